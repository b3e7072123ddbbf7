import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

import { Clock } from '../common/clock.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { WeComMsgType } from '../wecom/client/wecom.types.js';
import { WeComSettings } from '../wecom/wecom-settings.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import { assertContent, assertRecipients } from './message-content.js';
import { MessageEntity } from './message.entity.js';

/** Somebody a message is for: a platform user (resolved through the mappings) or a WeCom id. */
export type RecipientRef = { platformUserId: string } | { wecomUserId: string };

export interface SendRequest {
  /** What the message is about, e.g. `interview.invitation`, `admin.test`. */
  kind: string;
  msgtype: WeComMsgType;
  /** The msgtype's body, e.g. `{ content }` for text. */
  content: Record<string, unknown>;
  to: RecipientRef[];
  /** The same key twice returns the first message; made up when absent. */
  idempotencyKey?: string;
  /** Messages that go out together share a key (see MessageEntity.groupKey). */
  groupKey?: string;
  createdBy?: string;
  /** Not delivered before this (quiet hours); now when absent or past. */
  notBefore?: Date;
}

/**
 * How every module reaches people in WeCom. `send()` only writes the outbox (in the caller's
 * transaction when given one) and returns; MessageDispatcher delivers.
 */
@Injectable()
export class MessagingService {
  private readonly logger = new Logger(MessagingService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly settings: WeComSettings,
    private readonly clock: Clock,
    private readonly signal: MessageDispatchSignal,
    private readonly metrics: MetricsService,
  ) {}

  async send(request: SendRequest, manager?: EntityManager): Promise<MessageEntity> {
    assertRecipients(request.to);
    assertContent(request.msgtype, request.content);
    const run = (em: EntityManager) => this.write(request, em);
    this.metrics.messagesQueued.inc({ kind: request.kind, msgtype: request.msgtype });
    if (manager) {
      const message = await run(manager);
      this.signal.afterCommitOf(manager);
      return message;
    }
    const message = await this.dataSource.transaction(run);
    this.signal.wake();
    return message;
  }

  /**
   * One statement: resolves platform ids through the mappings (unknown ones are recorded as
   * `no_mapping`, members whose mapping is not active as `inactive_mapping`), drops repeated
   * recipients, and inserts the message with its recipients. A key already taken (a retried
   * request, or a concurrent send that won the race) inserts nothing and returns that message.
   */
  private async write(request: SendRequest, em: EntityManager): Promise<MessageEntity> {
    const key = request.idempotencyKey ?? `${request.kind}:${crypto.randomUUID()}`;
    const { corpId, agentId } = this.settings.credentials();
    const now = this.clock.now();
    const rows: { id: string; status: MessageEntity['status'] }[] = await em.query(
      `WITH refs AS (
         SELECT * FROM unnest($10::text[], $11::text[]) WITH ORDINALITY
                    AS t(platform_user_id, wecom_user_id, n)
       ), resolved AS (
         -- A member whose mapping is not active (left WeCom, disabled) is not sent to, whether
         -- named by platform id or by WeCom userid.
         SELECT t.n, t.platform_user_id, COALESCE(t.wecom_user_id, um.wecom_user_id) AS wecom_user_id,
                COALESCE(um.status, dm.status, 'active') <> 'active' AS inactive
           FROM refs t
           LEFT JOIN user_mappings um
             ON t.wecom_user_id IS NULL AND um.corp_id = $1
            AND um.platform_user_id = t.platform_user_id
            -- A mapping stored before '@all' was refused must not turn into a broadcast.
            AND lower(um.wecom_user_id) <> '@all'
           LEFT JOIN user_mappings dm
             ON t.wecom_user_id IS NOT NULL AND dm.corp_id = $1
            AND lower(dm.wecom_user_id) = lower(t.wecom_user_id)
       ), deduped AS (
         -- The same person twice (directly, or through two ids) gets one row: the first.
         SELECT DISTINCT ON (COALESCE('w:' || lower(wecom_user_id), 'p:' || platform_user_id)) *
           FROM resolved
          ORDER BY COALESCE('w:' || lower(wecom_user_id), 'p:' || platform_user_id), n
       ), m AS (
         INSERT INTO messages (corp_id, agent_id, kind, msgtype, content, idempotency_key,
                               group_key, status, next_attempt_at, created_by, created_at, updated_at)
         SELECT $1, $2, $3, $4, $5::jsonb, $6, $7,
                CASE WHEN x.deliverable THEN 'queued' ELSE 'skipped' END,
                CASE WHEN x.deliverable THEN GREATEST($9::timestamptz, $12::timestamptz) END,
                $8, $9, $9
           FROM (SELECT EXISTS (SELECT 1 FROM deduped WHERE wecom_user_id IS NOT NULL AND NOT inactive)
                          AS deliverable) AS x
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id, status
       ), r AS (
         INSERT INTO message_recipients (message_id, platform_user_id, wecom_user_id, status)
         SELECT m.id, d.platform_user_id, d.wecom_user_id,
                CASE WHEN d.wecom_user_id IS NULL THEN 'no_mapping'
                     WHEN d.inactive THEN 'inactive_mapping' ELSE 'pending' END
           FROM m, deduped d
          ORDER BY d.n
       )
       SELECT id, status FROM m`,
      [
        corpId,
        agentId,
        request.kind,
        request.msgtype,
        JSON.stringify(request.content),
        key,
        request.groupKey ?? null,
        request.createdBy ?? null,
        now,
        request.to.map((r) => (isPlatform(r) ? r.platformUserId : null)),
        request.to.map((r) => (isPlatform(r) ? null : r.wecomUserId)),
        request.notBefore ?? null,
      ],
    );
    const inserted = rows[0];
    if (!inserted) return em.findOneByOrFail(MessageEntity, { idempotencyKey: key });
    return em.create(MessageEntity, {
      id: inserted.id,
      corpId,
      agentId,
      kind: request.kind,
      msgtype: request.msgtype,
      content: request.content,
      idempotencyKey: key,
      groupKey: request.groupKey ?? null,
      status: inserted.status,
      attempts: 0,
      nextAttemptAt:
        inserted.status === 'queued'
          ? new Date(Math.max(now.getTime(), request.notBefore?.getTime() ?? 0))
          : null,
      leaseUntil: null,
      leasedBy: null,
      wecomMsgid: null,
      responseCode: null,
      lastErrcode: null,
      lastErrmsg: null,
      createdBy: request.createdBy ?? null,
      createdAt: now,
      updatedAt: now,
      sentAt: null,
    });
  }
}

function isPlatform(ref: RecipientRef): ref is { platformUserId: string } {
  return 'platformUserId' in ref && typeof ref.platformUserId === 'string';
}
