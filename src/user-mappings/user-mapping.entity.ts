import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const MAPPING_SOURCES = ['admin', 'oauth', 'mobile', 'email'] as const;
export type MappingSource = (typeof MAPPING_SOURCES)[number];
export const LANGUAGES = ['zh', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

/** A platform user and their WeCom member, per corp; unique both ways (in the database). */
@Entity('user_mappings')
export class UserMappingEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'corp_id', type: 'text' })
  corpId: string;

  @Column({ name: 'platform_user_id', type: 'text' })
  platformUserId: string;

  @Column({ name: 'wecom_user_id', type: 'text' })
  wecomUserId: string;

  @Column({ type: 'text' })
  source: MappingSource;

  @Column({ type: 'text', default: 'zh' })
  language: Language;

  @Column({ name: 'created_by', type: 'text', nullable: true })
  createdBy: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
