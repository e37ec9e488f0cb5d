import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** A persisted event, shared by all its recipients' inboxes. */
@Entity('notifications')
export class Notification {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string | number;

  @Column({ type: 'varchar', length: 64 })
  type!: string;

  /** The event's data, as JSON. */
  @Column({ type: 'text' })
  data!: string;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt!: string;

  /** Where it came from when that must be stored once only (an ingress entry id). */
  @Column({ name: 'source_key', type: 'varchar', length: 200, nullable: true })
  sourceKey!: string | null;
}
