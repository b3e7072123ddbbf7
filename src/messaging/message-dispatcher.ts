import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

import { Clock } from '../common/clock.js';
import type { AppConfigService } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import type { SendMessageResponse, WeComAttempt } from '../wecom/client/wecom.types.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import { MessageAttemptEntity } from './message-attempt.entity.js';
import { MessageRecipientEntity, type RecipientStatus } from './message-recipient.entity.js';
import { MessageEntity, type MessageStatus } from './message.entity.js';

/** WeCom takes at most 1000 user ids per call. */
export const MAX_TOUSER = 1000;
/** WeCom silently drops a member's 31st message within a minute from one app. */
export const PER_MEMBER_PER_MINUTE = 30;
const PACING_WINDOW_MS = 60_000;
/** A message that still fails after this many claims is given up as failed. */
export const MAX_ATTEMPTS = 8;
/** A retried call must be identical to the first for WeCom's duplicate check to recognise it. */
const DUPLICATE_CHECK_INTERVAL_S = 4 * 3600;

type RecipientOutcome = {
  status: RecipientStatus;
  wecomMsgid?: string | null;
  responseCode?: string | null;
  deliveredAt?: Date | null;
};

/** What a claim returns: enough to deliver without reading the message again. */
interface Claimed {
  id: string;
  attempts: number;
  kind: string;
  msgtype: MessageEntity['msgtype'];
  agentId: number;
  content: Record<string, unknown>;
}

/**
 * Delivers the outbox. Claims due messages with FOR UPDATE SKIP LOCKED under a lease (so any
 * number of instances share the work, and a crashed instance's claims come back when the
 * lease ends), paces each member to 30 a minute, batches recipients into one call per 1000,
 * and records every attempt and every recipient's fate.
 */
@Injectable()
export class MessageDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MessageDispatcher.name);
  readonly instanceId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  private running = 0;
  private pumping = false;
  private again = false;
  private stopped = false;
  private pollTimer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly client: WeComClient,
    private readonly clock: Clock,
    private readonly signal: MessageDispatchSignal,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    private readonly metrics: MetricsService,
  ) {
    this.leaseMs = config.get('DISPATCHER_LEASE_S', { infer: true }) * 1000;
    this.pollMs = config.get('DISPATCHER_POLL_MS', { infer: true });
    this.concurrency = config.get('DISPATCHER_CONCURRENCY', { infer: true });
  }

  onApplicationBootstrap(): void {
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    this.signal.onWake(() => this.kick());
    this.pollTimer = setInterval(() => this.kick(), this.pollMs);
    this.scheduler.addInterval('message-dispatcher', this.pollTimer);
    this.kick();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    // Let deliveries under way finish and record their outcome before the pool closes.
    await Promise.allSettled([...this.inFlight]);
  }

  /** Claims and delivers until nothing is due; safe to call any number of times. */
  kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.pump()
      .catch((error: unknown) => this.logger.error(`dispatch failed: ${describe(error)}`))
      .finally(() => {
        this.pumping = false;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** One full pass, awaited: specs and the kick loop use it. Returns how many were processed. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const claimed = await this.claim(this.concurrency * 4);
      if (claimed.length === 0) break;
      await Promise.all(claimed.map((c) => this.track(c)));
      total += claimed.length;
    }
    return total;
  }

  private async pump(): Promise<void> {
    while (!this.stopped) {
      const free = this.concurrency * 2 - this.running;
      if (free <= 0) {
        await Promise.race([...this.inFlight]);
        continue;
      }
      const claimed = await this.claim(free);
      if (claimed.length === 0) break;
      for (const c of claimed) void this.track(c);
    }
    await Promise.allSettled([...this.inFlight]);
  }

  private track(c: Claimed): Promise<void> {
    this.running++;
    const p = this.deliver(c)
      .catch((error: unknown) => this.logger.error(`message ${c.id}: ${describe(error)}`))
      .finally(() => {
        this.running--;
        this.inFlight.delete(p);
      });
    this.inFlight.add(p);
    return p;
  }

  /** Due = queued and its time has come, or `sending` with a lease that ran out (a crash). */
  async claim(limit: number): Promise<Claimed[]> {
    const now = this.clock.now();
    const leaseUntil = new Date(now.getTime() + this.leaseMs);
    const result: unknown = await this.dataSource.query(
      `UPDATE messages m
          SET status = 'sending', lease_until = $2, next_attempt_at = $2, leased_by = $3,
              attempts = m.attempts + 1, updated_at = $1
        WHERE m.id IN (
          SELECT id FROM messages
           WHERE status IN ('queued', 'sending') AND next_attempt_at <= $1
           ORDER BY next_attempt_at
           LIMIT $4
           FOR UPDATE SKIP LOCKED)
        RETURNING m.id, m.attempts, m.kind, m.msgtype, m.agent_id, m.content`,
      [now, leaseUntil, this.instanceId, limit],
    );
    // TypeORM answers UPDATE … RETURNING on PostgreSQL as [rows, affectedCount].
    const rows = (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as {
      id: string;
      attempts: number;
      kind: string;
      msgtype: Claimed['msgtype'];
      agent_id: number;
      content: Record<string, unknown>;
    }[];
    return rows.map((r) => ({
      id: r.id,
      attempts: Number(r.attempts),
      kind: r.kind,
      msgtype: r.msgtype,
      agentId: Number(r.agent_id),
      content: r.content,
    }));
  }

  private async deliver(claimed: Claimed): Promise<void> {
    const message = claimed;
    const now = this.clock.now();
    const { resend, fresh } = await this.reserve(message, now);
    // Chunked apart: a resent chunk must be the same JSON as before for WeCom's duplicate check.
    const batches = [...chunks(resend, MAX_TOUSER), ...chunks(fresh, MAX_TOUSER)];
    const attempts: (WeComAttempt & { recipientCount: number })[] = [];
    const outcome = new Map<string, RecipientOutcome>();
    let lastError: WeComApiError | undefined;

    for (const chunk of batches) {
      const touser = chunk.map((r) => r.wecomUserId!).join('|');
      try {
        const res = await this.client.sendMessage(
          {
            touser,
            msgtype: message.msgtype,
            agentid: message.agentId,
            [message.msgtype]: withChunkTaskId(message, chunk),
            enable_duplicate_check: 1,
            duplicate_check_interval: DUPLICATE_CHECK_INTERVAL_S,
          },
          { onAttempt: (a) => attempts.push({ ...a, recipientCount: chunk.length }) },
        );
        this.applyResult(chunk, res, outcome, this.clock.now());
      } catch (error) {
        if (!(error instanceof WeComApiError)) throw error;
        lastError = error;
        if (error.errcode === 81013) {
          // No valid recipient in this chunk: WeCom may list them in invaliduser, or not.
          for (const r of chunk) outcome.set(r.id, { status: 'invalid_user' });
        } else {
          const retry = error.retryable && claimed.attempts < MAX_ATTEMPTS;
          for (const r of chunk) outcome.set(r.id, { status: retry ? 'pending' : 'failed' });
        }
      }
    }
    await this.finish(message, claimed, outcome, attempts, lastError);
  }

  /**
   * Picks the recipients to send to now and marks them `sending`, under per-member advisory
   * locks so two instances cannot both spend a member's last slot of the minute. Members over
   * their budget wait (rate_limited, with not_before) for the next window.
   */
  private async reserve(
    message: Claimed,
    now: Date,
  ): Promise<{ resend: MessageRecipientEntity[]; fresh: MessageRecipientEntity[] }> {
    return this.dataSource.transaction(async (tx) => {
      const open = await tx
        .getRepository(MessageRecipientEntity)
        .createQueryBuilder('r')
        .where('r.message_id = :id', { id: message.id })
        .andWhere(`r.status IN ('pending', 'sending', 'rate_limited')`)
        .orderBy('r.id')
        .getMany();
      // Recipients left `sending` by a crashed attempt go out again exactly as before.
      const resend = open.filter((r) => r.status === 'sending');
      const candidates = open.filter(
        (r) => r.status !== 'sending' && (!r.notBefore || r.notBefore.getTime() <= now.getTime()),
      );
      if (candidates.length === 0) return { resend, fresh: [] };

      const members = [...new Set(candidates.map((r) => r.wecomUserId!.toLowerCase()))].sort();
      await tx.query(
        `SELECT pg_advisory_xact_lock(k) FROM (SELECT hashtext('wecom-member:' || u) AS k
           FROM unnest($1::text[]) AS u ORDER BY u) AS keys`,
        [members],
      );
      const since = new Date(now.getTime() - PACING_WINDOW_MS);
      const usage: { member: string; used: string; oldest: Date }[] = await tx.query(
        `SELECT lower(wecom_user_id) AS member, count(*) AS used, min(last_attempt_at) AS oldest
           FROM message_recipients
          WHERE lower(wecom_user_id) = ANY($1) AND status IN ('sending', 'delivered')
            AND last_attempt_at > $2
          GROUP BY 1`,
        [members, since],
      );
      const budget = new Map(
        usage.map((u) => [u.member, { used: Number(u.used), oldest: new Date(u.oldest) }]),
      );
      const go: MessageRecipientEntity[] = [];
      const wait: { r: MessageRecipientEntity; until: Date }[] = [];
      for (const r of candidates) {
        const member = r.wecomUserId!.toLowerCase();
        const b = budget.get(member) ?? { used: 0, oldest: now };
        if (b.used < PER_MEMBER_PER_MINUTE) {
          go.push(r);
          budget.set(member, { used: b.used + 1, oldest: b.used === 0 ? now : b.oldest });
        } else {
          wait.push({ r, until: new Date(b.oldest.getTime() + PACING_WINDOW_MS + 1000) });
        }
      }
      if (go.length > 0) {
        await tx.query(
          `UPDATE message_recipients SET status = 'sending', last_attempt_at = $2, not_before = NULL
            WHERE id = ANY($1::bigint[])`,
          [go.map((r) => r.id), now],
        );
      }
      for (const { r, until } of wait) {
        await tx.query(
          `UPDATE message_recipients SET status = 'rate_limited', not_before = $2 WHERE id = $1`,
          [r.id, until],
        );
      }
      return { resend, fresh: go };
    });
  }

  private applyResult(
    chunk: MessageRecipientEntity[],
    res: SendMessageResponse,
    outcome: Map<string, RecipientOutcome>,
    at: Date,
  ): void {
    const split = (s?: string) =>
      new Set(
        (s ?? '')
          .split('|')
          .filter(Boolean)
          .map((u) => u.toLowerCase()),
      );
    const invalid = split(res.invaliduser);
    const unlicensed = split(res.unlicenseduser);
    for (const r of chunk) {
      const member = r.wecomUserId!.toLowerCase();
      const status: RecipientStatus = invalid.has(member)
        ? 'invalid_user'
        : unlicensed.has(member)
          ? 'unlicensed'
          : 'delivered';
      outcome.set(r.id, {
        status,
        wecomMsgid: res.msgid ?? null,
        responseCode: res.response_code ?? null,
        deliveredAt: status === 'delivered' ? at : null,
      });
    }
  }

  private async finish(
    message: Claimed,
    claimed: Claimed,
    outcome: Map<string, RecipientOutcome>,
    attempts: (WeComAttempt & { recipientCount: number })[],
    lastError: WeComApiError | undefined,
  ): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      // Still ours? A lease that ran out may have been claimed again elsewhere.
      const mine: { id: string }[] = await tx.query(
        `SELECT id FROM messages WHERE id = $1 AND leased_by = $2 AND attempts = $3 AND status = 'sending' FOR UPDATE`,
        [message.id, this.instanceId, claimed.attempts],
      );
      if (attempts.length > 0) {
        await tx.insert(
          MessageAttemptEntity,
          attempts.map((a) => ({
            messageId: message.id,
            startedAt: a.startedAt,
            latencyMs: a.latencyMs,
            path: a.path,
            errcode: a.errcode,
            errmsg: a.errmsg.slice(0, 500),
            httpStatus: a.httpStatus ?? null,
            recipientCount: a.recipientCount,
          })),
        );
      }
      if (mine.length === 0) {
        this.logger.warn(`message ${message.id}: lease lost before its outcome was saved`);
        return;
      }
      // One UPDATE per distinct outcome (a chunk shares its msgid), not one per recipient.
      const groups = new Map<string, { patch: RecipientOutcome; ids: string[] }>();
      for (const [id, patch] of outcome) {
        const key = JSON.stringify(patch);
        const group = groups.get(key) ?? { patch, ids: [] };
        group.ids.push(id);
        groups.set(key, group);
      }
      for (const { patch, ids } of groups.values()) {
        await tx.query(
          `UPDATE message_recipients
              SET status = $2, wecom_msgid = COALESCE($3, wecom_msgid),
                  response_code = COALESCE($4, response_code), delivered_at = $5
            WHERE id = ANY($1::bigint[])`,
          [
            ids,
            patch.status,
            patch.wecomMsgid ?? null,
            patch.responseCode ?? null,
            patch.deliveredAt ?? null,
          ],
        );
      }
      await this.settle(tx, message, claimed, lastError);
    });
  }

  /** The message's status follows from its recipients'. */
  private async settle(
    tx: EntityManager,
    message: Claimed,
    claimed: Claimed,
    lastError: WeComApiError | undefined,
  ): Promise<void> {
    const counts: {
      status: RecipientStatus;
      n: string;
      next: Date | null;
      msgid: string | null;
      code: string | null;
    }[] = await tx.query(
      `SELECT status, count(*) AS n, min(not_before) AS next,
              min(wecom_msgid) AS msgid, min(response_code) AS code
         FROM message_recipients WHERE message_id = $1 GROUP BY status`,
      [message.id],
    );
    const n = (s: RecipientStatus) => Number(counts.find((c) => c.status === s)?.n ?? 0);
    const now = this.clock.now();
    const waiting = n('pending') + n('rate_limited') + n('sending');
    const delivered = n('delivered');
    const total = counts.reduce((sum, c) => sum + Number(c.n), 0);
    let status: MessageStatus;
    let nextAttemptAt: Date | null = null;
    if (waiting > 0) {
      status = 'queued';
      const paced = counts.find((c) => c.status === 'rate_limited')?.next;
      const backoff = new Date(now.getTime() + retryDelayMs(claimed.attempts));
      nextAttemptAt = n('pending') + n('sending') > 0 ? backoff : paced ? new Date(paced) : backoff;
    } else if (delivered === total) {
      status = 'sent';
    } else if (delivered > 0) {
      status = 'partially_sent';
    } else {
      status = 'failed';
    }
    const first = counts.find((c) => c.status === 'delivered') ?? counts.find((c) => c.msgid);
    await tx.update(
      MessageEntity,
      { id: message.id },
      {
        status,
        nextAttemptAt,
        leaseUntil: null,
        leasedBy: null,
        lastErrcode: lastError ? lastError.errcode : null,
        lastErrmsg: lastError ? lastError.message.slice(0, 500) : null,
        wecomMsgid: first?.msgid ?? null,
        responseCode: first?.code ?? null,
        sentAt: status === 'sent' || status === 'partially_sent' ? now : null,
        updatedAt: now,
      },
    );
    this.metrics.messagesSettled.inc({ kind: message.kind, status });
    if (status === 'queued' && nextAttemptAt) {
      const delay = Math.max(0, nextAttemptAt.getTime() - now.getTime());
      if (delay < this.pollMs) setTimeout(() => this.kick(), delay).unref();
    }
  }
}

/** Between claims: 2 s, 4 s, 8 s … capped at 5 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.max(1, attempts));
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * WeCom wants task_id unique per app, so each chunk of recipients gets its own, derived from
 * the recipients so that a retry of the same chunk sends identical JSON (duplicate check).
 */
function withChunkTaskId(
  message: Claimed,
  chunk: MessageRecipientEntity[],
): Record<string, unknown> {
  const content = message.content;
  if (message.msgtype !== 'template_card' || typeof content.task_id !== 'string') return content;
  const digest = createHash('sha1')
    .update(
      chunk
        .map((r) => r.wecomUserId!.toLowerCase())
        .sort()
        .join('|'),
    )
    .digest('base64url')
    .replace(/[^0-9A-Za-z_-]/g, '')
    .slice(0, 10);
  return { ...content, task_id: `${content.task_id.slice(0, 110)}-${digest}` };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
