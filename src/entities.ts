import { InterviewParticipantEntity } from './interviews/interview-participant.entity.js';
import { InterviewReminderEntity } from './interviews/interview-reminder.entity.js';
import { InterviewEntity } from './interviews/interview.entity.js';
import { MessageAttemptEntity } from './messaging/message-attempt.entity.js';
import { MessageRecipientEntity } from './messaging/message-recipient.entity.js';
import { MessageEntity } from './messaging/message.entity.js';
import { AppSettingsEntity, ConfigAuditEntity } from './settings/app-settings.entity.js';
import { UserMappingEntity } from './user-mappings/user-mapping.entity.js';
import { OrganizationEntity } from './organizations/organization.entity.js';
import { OAuthStateEntity } from './sign-in/oauth-state.entity.js';
import { WeComEventEntity } from './wecom/callback/wecom-event.entity.js';
import { WeComCredentialEntity } from './wecom/token/wecom-credential.entity.js';

// Every TypeORM entity, for what runs without the modules: the TypeORM CLI (ormconfig.ts) and the
// schema spec. The application loads each module's own through TypeOrmModule.forFeature, and
// src/entities.spec.ts checks that the two agree.
export const ENTITIES: Function[] = [
  OrganizationEntity,
  WeComCredentialEntity,
  UserMappingEntity,
  MessageEntity,
  MessageRecipientEntity,
  MessageAttemptEntity,
  InterviewEntity,
  InterviewParticipantEntity,
  InterviewReminderEntity,
  WeComEventEntity,
  OAuthStateEntity,
  AppSettingsEntity,
  ConfigAuditEntity,
];
