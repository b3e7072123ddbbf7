import { Injectable } from '@nestjs/common';

import { TransactionHost } from '../database/transaction-host.js';
import type { ClaimedMessage, PlannedRecipient, UnsettledRecipient } from './delivery-plan.js';
import {
  CLAIM_DUE,
  LOCK_OPEN_RECIPIENTS,
  SAVE_OUTCOMES,
  SPEND_MEMBER_SLOTS,
} from './message-outbox.sql.js';
import type { RecipientStatus } from './message-recipient.entity.js';
import type { MessageStatus } from './message.entity.js';

/** A delivered message's settlement, as `saveOutcomes` writes it. */
export interface MessageSettlement {
  id: string;
  /** The claim's attempt number: a message claimed again since then is not ours to settle. */
  attempts: number;
  /** When to try again if recipients are still waiting. */
  retryAt: Date;
  errcode: number | null;
  errmsg: string | null;
  /** Waiting for credentials: the claim does not count as an attempt. */
  held: boolean;
}

export interface AttemptRecord {
  messageId: string;
  startedAt: Date;
  latencyMs: number;
  path: string;
  errcode: number | null;
  errmsg: string;
  httpStatus: number | null;
  recipientCount: number;
}

export interface RecipientFate {
  id: string;
  status: RecipientStatus;
  wecomMsgid: string | null;
  responseCode: string | null;
  deliveredAt: Date | null;
}

/** What `saveOutcomes` writes for a batch of delivered messages. */
export interface OutcomeRows {
  messages: readonly MessageSettlement[];
  attempts: readonly AttemptRecord[];
  recipients: readonly RecipientFate[];
}

export interface SavedMessage {
  id: string;
  status: MessageStatus;
  nextAttemptAt: Date | null;
}

/** The per-member budgets of pacing (WeCom drops what goes over: wecom-limits.ts). */
export interface MemberBudget {
  perMinute: number;
  perHour: number;
}

/** Longest text kept of a WeCom errmsg. */
const ERRMSG_MAX = 500;

/**
 * The dispatcher's statements on the outbox (`messages`, `message_recipients`,
 * `message_attempts`). They run in the caller's transaction when one is open (TransactionHost):
 * the recipient reserver runs its statements in one.
 */
@Injectable()
export class MessageOutboxRepository {
  constructor(private readonly db: TransactionHost) {}

  /**
   * Claims up to `limit` due messages of the scope's organisation (queued and due, or `sending`
   * with a lease that ran out: a crash) for `leasedBy` until `leaseUntil`, counting the claim as
   * an attempt. Rows locked by another instance are skipped. The due messages of the same groups come along (at most
   * `limit` more), so that the identical cards of one group are claimed together and can share
   * a call.
   */
  async claimDue(
    now: Date,
    leaseUntil: Date,
    leasedBy: string,
    limit: number,
  ): Promise<ClaimedMessage[]> {
    const rows = returned<{
      id: string;
      organization_id: string;
      corp_id: string;
      attempts: number;
      kind: string;
      msgtype: ClaimedMessage['msgtype'];
      agent_id: number;
      content: Record<string, unknown>;
    }>(await this.db.run((m) => m.query(CLAIM_DUE, [now, leaseUntil, leasedBy, limit])));
    return rows.map((r) => ({
      id: r.id,
      organizationId: r.organization_id,
      corpId: r.corp_id,
      attempts: Number(r.attempts),
      kind: r.kind,
      msgtype: r.msgtype,
      agentId: Number(r.agent_id),
      content: r.content,
    }));
  }

  /**
   * Makes the scope's organisation's queued messages that wait for working credentials
   * (errcodes given) due now: its credentials were fixed, not another organisation's.
   */
  async releaseHeld(now: Date, credentialErrcodes: readonly number[]): Promise<void> {
    await this.db.run((m) =>
      m.query(
        `UPDATE messages SET next_attempt_at = $1
        WHERE organization_id = nullif(current_setting('app.organization_id', true), '')::uuid
          AND status = 'queued' AND last_errcode = ANY($2::int[]) AND next_attempt_at > $1`,
        [now, credentialErrcodes],
      ),
    );
  }

  /** The recipients of these messages that have not been sent to yet (due or not). */
  async unsentRecipients(messageIds: readonly string[]): Promise<PlannedRecipient[]> {
    const rows: { id: string; message_id: string; wecom_user_id: string }[] = await this.db.run(
      (m) =>
        m.query(
          `SELECT id, message_id, wecom_user_id FROM message_recipients
          WHERE message_id = ANY($1::uuid[]) AND status IN ('pending', 'rate_limited')`,
          [messageIds],
        ),
    );
    return rows.map((r) => ({
      id: String(r.id),
      messageId: r.message_id,
      wecomUserId: r.wecom_user_id,
    }));
  }

  /** Recipients whose member's mapping turned inactive after queueing: nothing is sent to them. */
  async markInactiveMapping(recipientIds: readonly string[]): Promise<void> {
    if (recipientIds.length === 0) return;
    await this.db.run((m) =>
      m.query(
        `UPDATE message_recipients SET status = 'inactive_mapping', not_before = NULL
        WHERE id = ANY($1::bigint[]) AND status IN ('pending', 'rate_limited')`,
        [recipientIds],
      ),
    );
  }

  /**
   * The open recipients of these messages: those left `sending` (resends), and those due now
   * (candidates), in id order. Takes a transaction-scoped advisory lock per candidate member, in a
   * fixed order so that instances cannot deadlock, held until the pacing decision commits: two
   * instances cannot both spend a member's last slot. Run it in a transaction.
   */
  async lockOpenRecipients(
    messageIds: readonly string[],
    now: Date,
  ): Promise<(UnsettledRecipient & { status: RecipientStatus })[]> {
    const rows: {
      id: string;
      message_id: string;
      wecom_user_id: string;
      status: RecipientStatus;
      send_key: string | null;
    }[] = await this.db.run((m) => m.query(LOCK_OPEN_RECIPIENTS, [messageIds, now]));
    return rows.map((r) => ({
      id: String(r.id),
      messageId: r.message_id,
      wecomUserId: r.wecom_user_id,
      status: r.status,
      sendKey: r.send_key,
    }));
  }

  /** Each shared call's full list of user ids, as first sent, by send key. */
  async sharedCallLists(sendKeys: readonly string[]): Promise<Map<string, string[]>> {
    const lists = new Map<string, string[]>();
    if (sendKeys.length === 0) return lists;
    const rows: { send_key: string; wecom_user_id: string }[] = await this.db.run((m) =>
      m.query(
        `SELECT send_key, wecom_user_id FROM message_recipients
        WHERE send_key = ANY($1::text[]) ORDER BY id`,
        [sendKeys],
      ),
    );
    for (const r of rows) {
      const list = lists.get(r.send_key);
      if (list) list.push(r.wecom_user_id);
      else lists.set(r.send_key, [r.wecom_user_id]);
    }
    return lists;
  }

  /**
   * Paces candidates (in the order given, which decides who goes first) against each member's
   * sends in the last minute and hour: within both budgets a recipient becomes `sending` (its
   * slot spent now); over either it is `rate_limited` until the later of the full windows frees a
   * slot (a second after its oldest send leaves the window). Returns the ids now `sending`. Run
   * it in the transaction that took the members' locks (lockOpenRecipients), whose snapshot
   * comes after the locks: it sees every slot spent by the instance that held them before.
   */
  async spendMemberSlots(
    candidates: readonly PlannedRecipient[],
    now: Date,
    budget: MemberBudget,
  ): Promise<Set<string>> {
    const members = candidates.map((r) => r.wecomUserId.toLowerCase());
    const decided = returned<{ id: string; status: RecipientStatus }>(
      await this.db.run((m) =>
        m.query(SPEND_MEMBER_SLOTS, [
          candidates.map((r) => r.id),
          members,
          [...new Set(members)],
          now,
          budget.perMinute,
          budget.perHour,
        ]),
      ),
    );
    return new Set(decided.filter((d) => d.status === 'sending').map((d) => String(d.id)));
  }

  /** Stores each shared call's key on its recipients, before the call is made. */
  async keepSendKeys(assignments: readonly { recipientId: string; sendKey: string }[]) {
    if (assignments.length === 0) return;
    await this.db.run((m) =>
      m.query(
        `UPDATE message_recipients r SET send_key = k.key
         FROM unnest($1::bigint[], $2::text[]) AS k(id, key)
        WHERE r.id = k.id`,
        [assignments.map((a) => a.recipientId), assignments.map((a) => a.sendKey)],
      ),
    );
  }

  /**
   * Saves delivery outcomes in one statement, atomic without a transaction: every attempt is
   * recorded; for the messages still `leasedBy`'s (locked FOR UPDATE: a lease that ran out may
   * have been claimed again elsewhere) the recipients get their fate and the message its status,
   * which follows from its recipients' (the ones just decided overlaid on the stored ones).
   * Returns the messages saved; one missing had lost its lease.
   */
  async saveOutcomes(leasedBy: string, now: Date, outcomes: OutcomeRows): Promise<SavedMessage[]> {
    const messages = outcomes.messages.map((m) => ({
      id: m.id,
      attempts: m.attempts,
      retry_at: m.retryAt,
      errcode: m.errcode,
      errmsg: m.errmsg?.slice(0, ERRMSG_MAX) ?? null,
      held: m.held,
    }));
    const attempts = outcomes.attempts.map((a) => ({
      message_id: a.messageId,
      started_at: a.startedAt,
      latency_ms: Math.round(a.latencyMs),
      path: a.path,
      errcode: a.errcode,
      errmsg: a.errmsg.slice(0, ERRMSG_MAX),
      http_status: a.httpStatus,
      recipient_count: a.recipientCount,
    }));
    const recipients = outcomes.recipients.map((r) => ({
      id: r.id,
      status: r.status,
      msgid: r.wecomMsgid,
      code: r.responseCode,
      delivered_at: r.deliveredAt,
    }));
    const rows = returned<{ id: string; status: MessageStatus; next_attempt_at: Date | null }>(
      await this.db.run((m) =>
        m.query(SAVE_OUTCOMES, [
          leasedBy,
          now,
          JSON.stringify(messages),
          JSON.stringify(attempts),
          JSON.stringify(recipients),
        ]),
      ),
    );
    return rows.map((r) => ({
      id: r.id,
      status: r.status,
      nextAttemptAt: r.next_attempt_at ? new Date(r.next_attempt_at) : null,
    }));
  }
}

/** TypeORM answers UPDATE … RETURNING on PostgreSQL as [rows, affectedCount]. */
function returned<T>(result: unknown): T[] {
  return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as T[];
}
