import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';

import { pageNewestFirst, type Page } from '../common/cursor.js';
import { inCurrentOrganization } from '../database/organization-column.js';
import { TransactionHost } from '../database/transaction-host.js';
import { MessageAttemptEntity } from './message-attempt.entity.js';
import type { RecipientStatus } from './message-recipient.entity.js';
import { MessageRecipientEntity } from './message-recipient.entity.js';
import { MessageEntity, type MessageStatus } from './message.entity.js';

/** A message as `send` writes it, with its recipients in the order given. */
export interface NewMessage {
  corpId: string;
  agentId: number;
  kind: string;
  msgtype: string;
  content: Record<string, unknown>;
  idempotencyKey: string;
  groupKey: string | null;
  status: 'queued' | 'skipped';
  nextAttemptAt: Date | null;
  createdBy: string | null;
  createdAt: Date;
  recipients: NewRecipient[];
}

export interface NewRecipient {
  platformUserId: string | null;
  wecomUserId: string | null;
  status: Extract<RecipientStatus, 'pending' | 'no_mapping' | 'inactive_mapping'>;
}

/**
 * Messages and their recipients in one statement (MessagesRepository.insertMany): $1-$11 one
 * element per message, $12-$15 one per recipient, which names its message by idempotency key.
 * Recipients get their ids in the order named, message after message.
 */
const INSERT_MESSAGES_SQL = `
  WITH m AS (
    INSERT INTO messages (corp_id, agent_id, kind, msgtype, content, idempotency_key, group_key,
                          status, next_attempt_at, created_by, created_at, updated_at)
    SELECT t.corp_id, t.agent_id, t.kind, t.msgtype, t.content::jsonb, t.idempotency_key,
           t.group_key, t.status, t.next_attempt_at, t.created_by, t.created_at, t.created_at
      FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
                  $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::timestamptz[])
             WITH ORDINALITY AS t(corp_id, agent_id, kind, msgtype, content, idempotency_key,
                                  group_key, status, next_attempt_at, created_by, created_at, n)
     ORDER BY t.n
    ON CONFLICT (organization_id, idempotency_key) DO NOTHING
    RETURNING id, status, idempotency_key
  ), r AS (
    INSERT INTO message_recipients (message_id, platform_user_id, wecom_user_id, status)
    SELECT m.id, t.platform_user_id, t.wecom_user_id, t.status
      FROM unnest($12::text[], $13::text[], $14::text[], $15::text[]) WITH ORDINALITY
             AS t(idempotency_key, platform_user_id, wecom_user_id, status, n)
      JOIN m ON m.idempotency_key = t.idempotency_key
     ORDER BY t.n
  )
  SELECT id, status, idempotency_key FROM m`;

export interface MessageFilter {
  status?: MessageStatus;
  kind?: string;
  groupKey?: string;
  since?: Date;
  /** A platform user id among the recipients. */
  recipient?: string;
}

/**
 * What the messaging services (sending, the history, retry and recall, the outbox gauges) read
 * and write in `messages`, `message_recipients` and `message_attempts`; the dispatcher's own
 * statements are in its outbox repository. Statements run in the caller's transaction when one
 * is open (TransactionHost).
 */
@Injectable()
export class MessagesRepository {
  constructor(private readonly db: TransactionHost) {}

  /**
   * Inserts the messages and all their recipients in one statement, in the transaction's
   * organisation (the column default). Their idempotency keys must differ. A key already taken in
   * the organisation (a retried request, or a concurrent send that won the race) inserts nothing
   * for that message: the answer, by key, holds the messages inserted only.
   */
  async insertMany(
    messages: readonly NewMessage[],
  ): Promise<Map<string, { id: string; status: MessageStatus }>> {
    if (messages.length === 0) return new Map();
    const recipients = messages.flatMap((m) =>
      m.recipients.map((r) => ({ key: m.idempotencyKey, ...r })),
    );
    const rows: { id: string; status: MessageStatus; idempotency_key: string }[] =
      await this.db.run((m) =>
        m.query(INSERT_MESSAGES_SQL, [
          messages.map((x) => x.corpId),
          messages.map((x) => x.agentId),
          messages.map((x) => x.kind),
          messages.map((x) => x.msgtype),
          messages.map((x) => JSON.stringify(x.content)),
          messages.map((x) => x.idempotencyKey),
          messages.map((x) => x.groupKey),
          messages.map((x) => x.status),
          messages.map((x) => x.nextAttemptAt),
          messages.map((x) => x.createdBy),
          messages.map((x) => x.createdAt),
          recipients.map((r) => r.key),
          recipients.map((r) => r.platformUserId),
          recipients.map((r) => r.wecomUserId),
          recipients.map((r) => r.status),
        ]),
      );
    return new Map(rows.map((r) => [r.idempotency_key, { id: r.id, status: r.status }]));
  }

  findById(id: string): Promise<MessageEntity | null> {
    return this.db.run((m) => m.getRepository(MessageEntity).findOneBy({ id }));
  }

  /** The current organisation's messages with these keys (keys are unique per organisation). */
  async findByIdempotencyKeys(keys: readonly string[]): Promise<Map<string, MessageEntity>> {
    const found = await this.db.run((m) =>
      m
        .getRepository(MessageEntity)
        .findBy({ organizationId: inCurrentOrganization(), idempotencyKey: In([...keys]) }),
    );
    return new Map(found.map((message) => [message.idempotencyKey, message]));
  }

  /** One page of the history, newest first. */
  page(
    filter: MessageFilter,
    page: { cursor?: string; limit: number },
  ): Promise<Page<MessageEntity>> {
    return this.db.run((manager) => {
      const qb = manager.getRepository(MessageEntity).createQueryBuilder('m');
      if (filter.status) qb.andWhere('m.status = :status', { status: filter.status });
      if (filter.kind) qb.andWhere('m.kind = :kind', { kind: filter.kind });
      if (filter.groupKey) qb.andWhere('m.group_key = :iid', { iid: filter.groupKey });
      if (filter.since) qb.andWhere('m.created_at >= :since', { since: filter.since });
      if (filter.recipient) {
        qb.andWhere(
          'EXISTS (SELECT 1 FROM message_recipients r WHERE r.message_id = m.id AND r.platform_user_id = :rcpt)',
          { rcpt: filter.recipient },
        );
      }
      return pageNewestFirst(qb, page, (m) => m);
    });
  }

  /** The messages sent under a group key, oldest first (an interview's, for its history). */
  ofGroup(groupKey: string): Promise<MessageEntity[]> {
    return this.db.run((m) =>
      m
        .getRepository(MessageEntity)
        .find({ where: { groupKey }, order: { createdAt: 'ASC', id: 'ASC' } }),
    );
  }

  recipientsOf(messageId: string): Promise<MessageRecipientEntity[]> {
    return this.db.run((m) =>
      m.getRepository(MessageRecipientEntity).find({ where: { messageId }, order: { id: 'ASC' } }),
    );
  }

  attemptsOf(messageId: string): Promise<MessageAttemptEntity[]> {
    return this.db.run((m) =>
      m.getRepository(MessageAttemptEntity).find({ where: { messageId }, order: { id: 'ASC' } }),
    );
  }

  /** The message's status, locking the row until the transaction ends; undefined if none. */
  async lockStatus(id: string): Promise<MessageStatus | undefined> {
    const [message]: { status: MessageStatus }[] = await this.db.run((m) =>
      m.query(`SELECT status FROM messages WHERE id = $1 FOR UPDATE`, [id]),
    );
    return message?.status;
  }

  /** Puts the failed recipients of a message back in the queue; answers how many there were. */
  async requeueFailedRecipients(id: string): Promise<number> {
    const reset = await this.db.run((m) =>
      m.query(
        `UPDATE message_recipients SET status = 'pending', not_before = NULL WHERE message_id = $1 AND status = 'failed'`,
        [id],
      ),
    );
    return (reset[1] ?? 0) as number;
  }

  /** Queues the message again, due now, with a fresh attempt count. */
  async requeue(id: string, now: Date): Promise<void> {
    await this.db.run((m) =>
      m.query(
        `UPDATE messages SET status = 'queued', attempts = 0, next_attempt_at = $2, updated_at = $2 WHERE id = $1`,
        [id, now],
      ),
    );
  }

  /** The WeCom msgids the message's recipients were sent under. */
  async wecomMsgidsOf(id: string): Promise<string[]> {
    const rows: { wecom_msgid: string }[] = await this.db.run((m) =>
      m.query(
        `SELECT DISTINCT wecom_msgid FROM message_recipients WHERE message_id = $1 AND wecom_msgid IS NOT NULL`,
        [id],
      ),
    );
    return rows.map((r) => r.wecom_msgid);
  }

  /** The other messages that went out in the same WeCom calls (they share a msgid). */
  async sharingMsgids(id: string, msgids: readonly string[]): Promise<string[]> {
    const rows: { message_id: string }[] = await this.db.run((m) =>
      m.query(
        `SELECT DISTINCT message_id FROM message_recipients
        WHERE wecom_msgid = ANY($1::text[]) AND message_id <> $2`,
        [msgids, id],
      ),
    );
    return rows.map((r) => r.message_id);
  }

  async markRecalled(ids: readonly string[], now: Date): Promise<void> {
    await this.db.run((m) =>
      m
        .getRepository(MessageEntity)
        .update({ id: In([...ids]) }, { status: 'recalled', updatedAt: now }),
    );
  }

  /** How many messages wait in the outbox (queued or being sent), and when the oldest was made. */
  async outboxBacklog(): Promise<{ depth: number; oldest: Date | null }> {
    const [row]: { depth: string; oldest: Date | null }[] = await this.db.run((m) =>
      m.query(
        `SELECT count(*) AS depth, min(created_at) AS oldest FROM messages
        WHERE status IN ('queued', 'sending')`,
      ),
    );
    return { depth: Number(row?.depth ?? 0), oldest: row?.oldest ? new Date(row.oldest) : null };
  }

  /**
   * A member's WeCom userid changed: recipients still waiting for them follow. Those already
   * reserved (`sending`) go out as reserved: a resend must be identical.
   */
  async followRenamedMember(
    corpId: string,
    oldWecomUserId: string,
    newWecomUserId: string,
  ): Promise<void> {
    await this.db.run((m) =>
      m.query(
        `UPDATE message_recipients r SET wecom_user_id = $3
         FROM messages m
        WHERE m.id = r.message_id AND m.corp_id = $1 AND m.status IN ('queued', 'sending')
          AND lower(r.wecom_user_id) = lower($2) AND r.status IN ('pending', 'rate_limited')`,
        [corpId, oldWecomUserId, newWecomUserId],
      ),
    );
  }
}
