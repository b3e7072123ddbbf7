import { CallbackXmlError } from './callback-xml.js';

/** A member change from WeCom's `change_contact` event (成员变更通知). */
export interface ContactChange {
  /** `create_user`, `update_user`, `delete_user` (departments and tags have others). */
  changeType: string;
  userId: string;
  /** Set on `update_user` when an admin changed the member's userid. */
  newUserId: string | null;
  /**
   * On `update_user`, when the member's status changed: 1 active, 2 disabled, 4 not activated,
   * 5 left. Often absent (apps configured since 2022-08 get few member fields).
   */
  status: number | null;
}

const USER_ID = /^[0-9A-Za-z_\-@.]{1,64}$/;
const MEMBER_CHANGES = new Set(['create_user', 'update_user', 'delete_user']);

/**
 * The member change a `change_contact` event carries, or null for department and tag changes.
 * Throws CallbackXmlError for a member change without a usable UserID.
 */
export function readContactChange(fields: Readonly<Record<string, string>>): ContactChange | null {
  const changeType = fields.ChangeType?.trim() ?? '';
  if (!MEMBER_CHANGES.has(changeType)) return null;
  const userId = fields.UserID?.trim() ?? '';
  if (!USER_ID.test(userId)) throw new CallbackXmlError(`${changeType} has no valid UserID`);
  const newUserId = fields.NewUserID?.trim() || null;
  if (newUserId !== null && !USER_ID.test(newUserId)) {
    throw new CallbackXmlError(`${changeType} has an invalid NewUserID`);
  }
  const status = fields.Status?.trim();
  return {
    changeType,
    userId,
    newUserId,
    status: status && /^\d$/.test(status) ? Number(status) : null,
  };
}
