import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** An event committed with the data it is about, waiting to be handed to the fan-out. */
@Entity('outbox')
export class OutboxEntry {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string | number;

  @Column({ name: 'notification_id', type: 'bigint', nullable: true })
  notificationId!: string | number | null;

  /** Random, so that it names this hand-over across every instance and database. */
  @Column({ name: 'dedupe_key', type: 'varchar', length: 64 })
  dedupeKey!: string;

  @Column({ type: 'varchar', length: 64 })
  type!: string;

  @Column({ type: 'text' })
  data!: string;

  /** JSON array of user ids. */
  @Column({ type: 'text' })
  recipients!: string;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt!: string;
}
