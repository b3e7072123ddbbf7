import { createHash, randomUUID } from 'node:crypto';

import type { SendMessageRequest } from '../wecom/client/wecom.types.js';
import { WECOM_LIMITS } from '../wecom/wecom-limits.js';
import type { MessageEntity } from './message.entity.js';

/**
 * Which WeCom calls deliver a claimed batch, as pure functions: no database, no clock. The
 * recipient reserver feeds them what the outbox holds; the dispatcher makes the calls.
 */

/** WeCom takes at most 1000 user ids per call. */
export const MAX_TOUSER = WECOM_LIMITS.touserMax;
/**
 * The longest duplicate-check window WeCom allows: a retried call, identical to the first, is
 * recognised as a repeat for that long.
 */
export const DUPLICATE_CHECK_INTERVAL_S = WECOM_LIMITS.duplicateCheckMaxSeconds;

/** What a claim returns: enough to deliver without reading the message again. */
export interface ClaimedMessage {
  id: string;
  /** The organisation it belongs to: its reservation, calls and outcome run in that scope. */
  organizationId: string;
  corpId: string;
  attempts: number;
  kind: string;
  msgtype: MessageEntity['msgtype'];
  agentId: number;
  content: Record<string, unknown>;
}

/** A recipient whose fate a call decides. */
export interface PlannedRecipient {
  id: string;
  messageId: string;
  wecomUserId: string;
}

/** A recipient left `sending` by a call whose outcome was never saved. */
export interface UnsettledRecipient extends PlannedRecipient {
  /** The key of the shared call it went out in, or null when its message had its own call. */
  sendKey: string | null;
}

/** One WeCom call. */
export interface PlannedCall {
  /** The claimed message whose body goes out (every message sharing the call has the same). */
  body: ClaimedMessage;
  /** Exactly the list sent: for a resend, the list of the first time. */
  touser: string[];
  /** The recipients of messages claimed in this pass whose outcome this call decides. */
  recipients: PlannedRecipient[];
  /**
   * Shared by several messages. A retryable failure then leaves the recipients `sending`, so
   * that the retry resends the same list (the same JSON, for WeCom's duplicate check) even if
   * the messages are next claimed apart.
   */
  shared: boolean;
}

/** The key a shared call's recipients keep, so that a resend finds the whole call again. */
export interface SendKeyAssignment {
  recipientId: string;
  sendKey: string;
}

/**
 * Recipients left `sending` go out again exactly as before: with their message's own chunk, or
 * with the whole shared call (`sharedLists`: each send key's full list, as first sent).
 */
export function planResendCalls(
  unsettled: readonly UnsettledRecipient[],
  messages: ReadonlyMap<string, ClaimedMessage>,
  sharedLists: ReadonlyMap<string, string[]>,
): PlannedCall[] {
  const ownByMessage = new Map<string, PlannedRecipient[]>();
  const sharedByKey = new Map<string, PlannedRecipient[]>();
  for (const { sendKey, ...recipient } of unsettled) {
    if (sendKey) append(sharedByKey, sendKey, recipient);
    else append(ownByMessage, recipient.messageId, recipient);
  }
  const calls: PlannedCall[] = [];
  for (const [messageId, recipients] of ownByMessage) {
    calls.push(...ownCalls(messages.get(messageId)!, recipients));
  }
  for (const [sendKey, recipients] of sharedByKey) {
    calls.push({
      body: messages.get(recipients[0].messageId)!,
      touser: sharedLists.get(sendKey) ?? userIds(recipients),
      recipients,
      shared: true,
    });
  }
  return calls;
}

/**
 * Calls for recipients sent to for the first time (in the order given). Messages with the same
 * body (the identical cards of one group) share calls, whole messages up to 1000 recipients a
 * call; a message alone in its call goes out in chunks of 1000. Each shared call gets a new send
 * key, to be stored on its recipients before the call is made.
 */
export function planFirstCalls(
  reserved: readonly PlannedRecipient[],
  messages: ReadonlyMap<string, ClaimedMessage>,
  newSendKey: () => string = randomUUID,
): { calls: PlannedCall[]; sendKeys: SendKeyAssignment[] } {
  const byMessage = new Map<string, PlannedRecipient[]>();
  for (const recipient of reserved) append(byMessage, recipient.messageId, recipient);
  const bySameBody = new Map<string, PlannedRecipient[][]>();
  for (const [messageId, recipients] of byMessage) {
    // Only the same app's messages may share a call: never two organisations', nor two corps'.
    const { organizationId, corpId, agentId, msgtype, content } = messages.get(messageId)!;
    const app = `${organizationId}\n${corpId}\n${agentId}`;
    append(bySameBody, `${app}\n${msgtype}\n${JSON.stringify(content)}`, recipients);
  }

  const calls: PlannedCall[] = [];
  const sendKeys: SendKeyAssignment[] = [];
  const closeCall = (group: PlannedRecipient[][]) => {
    if (group.length === 1) {
      calls.push(...ownCalls(messages.get(group[0][0].messageId)!, group[0]));
    } else if (group.length > 1) {
      const recipients = group.flat().sort((a, b) => compareIds(a.id, b.id));
      const sendKey = newSendKey();
      for (const r of recipients) sendKeys.push({ recipientId: r.id, sendKey });
      const body = messages.get(recipients[0].messageId)!;
      calls.push({ body, touser: userIds(recipients), recipients, shared: true });
    }
  };
  for (const sameBody of bySameBody.values()) {
    let group: PlannedRecipient[][] = [];
    let size = 0;
    for (const recipients of sameBody) {
      if (size + recipients.length > MAX_TOUSER) {
        closeCall(group);
        group = [];
        size = 0;
      }
      group.push(recipients);
      size += recipients.length;
    }
    closeCall(group);
  }
  return { calls, sendKeys };
}

/** The request a planned call sends. */
export function sendMessageRequest(call: PlannedCall): SendMessageRequest {
  const { body, touser } = call;
  return {
    touser: touser.join('|'),
    msgtype: body.msgtype,
    agentid: body.agentId,
    [body.msgtype]: withChunkTaskId(body, touser),
    enable_duplicate_check: 1,
    duplicate_check_interval: DUPLICATE_CHECK_INTERVAL_S,
  };
}

/** How many of a call's recipients each message has: the messages the call serves. */
export function recipientCountsByMessage(call: PlannedCall): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of call.recipients) counts.set(r.messageId, (counts.get(r.messageId) ?? 0) + 1);
  return counts;
}

/**
 * WeCom wants task_id unique per app, so each chunk of recipients gets its own, derived from
 * the recipients so that a retry of the same chunk sends identical JSON (duplicate check).
 */
export function withChunkTaskId(
  message: Pick<ClaimedMessage, 'msgtype' | 'content'>,
  touser: readonly string[],
): Record<string, unknown> {
  const content = message.content;
  if (message.msgtype !== 'template_card' || typeof content.task_id !== 'string') return content;
  const digest = createHash('sha1')
    .update(
      touser
        .map((u) => u.toLowerCase())
        .sort()
        .join('|'),
    )
    .digest('base64url')
    .replace(/[^0-9A-Za-z_-]/g, '')
    .slice(0, 10);
  return { ...content, task_id: `${content.task_id.slice(0, 110)}-${digest}` };
}

/** One message's own calls: its recipients, 1000 a call. */
function ownCalls(body: ClaimedMessage, recipients: PlannedRecipient[]): PlannedCall[] {
  const calls: PlannedCall[] = [];
  for (let i = 0; i < recipients.length; i += MAX_TOUSER) {
    const chunk = recipients.slice(i, i + MAX_TOUSER);
    calls.push({ body, touser: userIds(chunk), recipients: chunk, shared: false });
  }
  return calls;
}

function userIds(recipients: readonly PlannedRecipient[]): string[] {
  return recipients.map((r) => r.wecomUserId);
}

/** Recipient ids are bigints as strings: shorter is smaller. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
