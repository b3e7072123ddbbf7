import { MessageAttemptEntity } from '../messaging/message-attempt.entity.js';
import { MessageRecipientEntity } from '../messaging/message-recipient.entity.js';
import { MessageEntity } from '../messaging/message.entity.js';
import { UserMappingEntity } from '../user-mappings/user-mapping.entity.js';
import { WeComCredentialEntity } from '../wecom/token/wecom-credential.entity.js';

// Every TypeORM entity, listed once for the app and the CLI (see database.options.ts).
export const ENTITIES: Function[] = [
  WeComCredentialEntity,
  UserMappingEntity,
  MessageEntity,
  MessageRecipientEntity,
  MessageAttemptEntity,
];
