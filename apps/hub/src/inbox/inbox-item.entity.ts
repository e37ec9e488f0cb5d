import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A notification in one user's inbox. */
@Entity('inbox_items')
export class InboxItem {
  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 128 })
  userId!: string;

  @PrimaryColumn({ name: 'notification_id', type: 'bigint' })
  notificationId!: string | number;

  @Column({ name: 'read_at', type: 'varchar', length: 32, nullable: true })
  readAt!: string | null;
}
