import { WeComCredentials1763888400000 } from './1763888400000-WeComCredentials.js';
import { Messaging1763892000000 } from './1763892000000-Messaging.js';
import { Interviews1763895600000 } from './1763895600000-Interviews.js';
import { WeComEvents1763899200000 } from './1763899200000-WeComEvents.js';
import { MessageSendKey1763910000000 } from './1763910000000-MessageSendKey.js';
import { AdminSettings1763920000000 } from './1763920000000-AdminSettings.js';
import { UserMappingStatus1763930000000 } from './1763930000000-UserMappingStatus.js';
import { RateLimitCounters1764000000000 } from './1764000000000-RateLimitCounters.js';
import { CredentialRenewAt1764380000000 } from './1764380000000-CredentialRenewAt.js';
import { MessageGroupKey1764400000000 } from './1764400000000-MessageGroupKey.js';
import { Organizations1764500000000 } from './1764500000000-Organizations.js';
import { OrganizationColumns1764500000001 } from './1764500000001-OrganizationColumns.js';
import { OrganizationIsolation1764500000002 } from './1764500000002-OrganizationIsolation.js';
import { OrganizationConsoleAdmins1764600000000 } from './1764600000000-OrganizationConsoleAdmins.js';
import { UserMappingSearch1764600000001 } from './1764600000001-UserMappingSearch.js';
import { RecipientPacingColumn1764600000002 } from './1764600000002-RecipientPacingColumn.js';

// Every migration, in order. `npm run migration:generate -- Name` writes a new file here;
// add its class to this list.
export const MIGRATIONS: Function[] = [
  WeComCredentials1763888400000,
  Messaging1763892000000,
  Interviews1763895600000,
  WeComEvents1763899200000,
  MessageSendKey1763910000000,
  AdminSettings1763920000000,
  UserMappingStatus1763930000000,
  RateLimitCounters1764000000000,
  CredentialRenewAt1764380000000,
  MessageGroupKey1764400000000,
  Organizations1764500000000,
  OrganizationColumns1764500000001,
  OrganizationIsolation1764500000002,
  OrganizationConsoleAdmins1764600000000,
  UserMappingSearch1764600000001,
  RecipientPacingColumn1764600000002,
];
