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
import { EventEmitter2 } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { Clock } from '../common/clock.js';
import type { AppConfigService } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import {
  CONFIG_ERRCODES,
  CREDENTIALS_REJECTED_PAUSE_MS,
  isCredentialsRejected,
} from '../wecom/client/wecom-retry-policy.js';
import { AccessTokenProvider } from '../wecom/token/access-token.provider.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import type { SendMessageResponse, WeComAttempt } from '../wecom/client/wecom.types.js';
import { WECOM_LIMITS } from '../wecom/wecom-limits.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import { MessagesSettledEvent } from './message-events.js';
import type { RecipientStatus } from './message-recipient.entity.js';
import type { MessageEntity, MessageStatus } from './message.entity.js';

/** WeCom takes at most 1000 user ids per call. */
export const MAX_TOUSER = 1000;
/**
 * WeCom silently drops a member's 31st message within a minute, and their 1001st within an
 * hour, from one app (wecom-limits.ts); DISPATCHER_MEMBER_PER_MINUTE/HOUR may only lower these.
 */
export const PER_MEMBER_PER_MINUTE = WECOM_LIMITS.perMemberPerMinute;
const PACING_WINDOW_MS = 60_000;
const PACING_HOUR_MS = 3600_000;
/** A message that still fails after this many claims is given up as failed. */
export const MAX_ATTEMPTS = 8;
/** A retried call must be identical to the first for WeCom's duplicate check to recognise it. */
const DUPLICATE_CHECK_INTERVAL_S = 4 * 3600;
/**
 * Messages kept claimed per unit of concurrency by the kick loop: enough that the next batch is
 * claimed and reserved while calls are out, and that calls shared by several messages still
 * fill the twice-the-concurrency calls in flight.
 */
const CLAIMED_PER_SLOT = 16;
/** Most outcomes saved by one statement. */
const SAVE_BATCH = 500;

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

interface PlannedRecipient {
  id: string;
  messageId: string;
  wecomUserId: string;
}

/** One WeCom call of a pass. */
interface Call {
  /** The claimed message whose body goes out (every message sharing the call has the same). */
  body: Claimed;
  /** Exactly the list sent: for a resend, the list of the first time. */
  touser: string[];
  /** The recipients of messages claimed in this pass whose outcome this call decides. */
  mine: PlannedRecipient[];
  /**
   * Shared by several messages. A retryable failure then leaves the recipients `sending`, so
   * that the retry resends the same list (the same JSON, for WeCom's duplicate check) even if
   * the messages are next claimed apart.
   */
  shared: boolean;
}

/** A claimed message on its way: what its calls found, and how many are still out. */
class Delivery {
  readonly outcome = new Map<string, RecipientOutcome>();
  readonly attempts: (WeComAttempt & { recipientCount: number })[] = [];
  lastError: WeComApiError | undefined;
  /** WeCom refused the deployment's credentials: the message waits for them, it has not failed. */
  held = false;
  calls = 0;
  broken = false;
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;

  constructor(readonly message: Claimed) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/** A message's calls are over: what to save. */
interface Delivered {
  message: Claimed;
  outcome: Map<string, RecipientOutcome>;
  attempts: (WeComAttempt & { recipientCount: number })[];
  lastError: WeComApiError | undefined;
  held: boolean;
}

/** At most `limit` tasks at a time; the rest wait their turn in order. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((go) => this.waiting.push(go));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
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
  /** WeCom calls in flight: twice the concurrency, however many messages are claimed. */
  private readonly calls: Gate;
  private readonly unsaved: {
    result: Delivered;
    resolve: () => void;
    reject: (error: unknown) => void;
  }[] = [];
  private saving?: Promise<void>;
  private readonly perMemberPerMinute: number;
  private readonly perMemberPerHour: number;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly client: WeComClient,
    private readonly clock: Clock,
    private readonly events: EventEmitter2,
    private readonly signal: MessageDispatchSignal,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    private readonly metrics: MetricsService,
    private readonly tokens: AccessTokenProvider,
    runtime: RuntimeSettings,
  ) {
    this.leaseMs = config.get('DISPATCHER_LEASE_S', { infer: true }) * 1000;
    this.pollMs = config.get('DISPATCHER_POLL_MS', { infer: true });
    this.concurrency = config.get('DISPATCHER_CONCURRENCY', { infer: true });
    this.calls = new Gate(this.concurrency * 2);
    // Credentials fixed by an admin: messages held for them go now, not at their next try.
    runtime.onChange((next, previous) => {
      if (next.version === previous.version) return;
      this.releaseHeld().catch((error: unknown) =>
        this.logger.warn(`held messages not released: ${describe(error)}`),
      );
    });
    this.perMemberPerMinute = config.get('DISPATCHER_MEMBER_PER_MINUTE', { infer: true });
    this.perMemberPerHour = config.get('DISPATCHER_MEMBER_PER_HOUR', { infer: true });
  }

  /** Makes the messages waiting for working credentials due at once. */
  private async releaseHeld(): Promise<void> {
    await this.dataSource.query(
      `UPDATE messages SET next_attempt_at = $1
        WHERE status = 'queued' AND last_errcode = ANY($2::int[]) AND next_attempt_at > $1`,
      [this.clock.now(), [...CONFIG_ERRCODES]],
    );
    this.kick();
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
      await Promise.all(this.launch(claimed));
      total += claimed.length;
    }
    return total;
  }

  /**
   * Keeps up to CLAIMED_PER_SLOT times the concurrency claimed; the calls themselves stay at
   * twice the concurrency.
   */
  private async pump(): Promise<void> {
    while (!this.stopped) {
      const free = this.concurrency * CLAIMED_PER_SLOT - this.running;
      if (free < this.concurrency * 2) {
        await Promise.race([...this.inFlight]);
        continue;
      }
      const claimed = await this.claim(free);
      if (claimed.length === 0) break;
      void this.launch(claimed);
    }
    // Deliveries under way finish on their own; a kick meanwhile starts the next pass at once.
  }

  /**
   * Reserves a claimed batch's recipients together, sends the batch's calls (messages with the
   * same body share calls), and saves each message's outcome once its calls are over.
   */
  private launch(claimed: Claimed[]): Promise<void>[] {
    const deliveries = new Map(claimed.map((c) => [c.id, new Delivery(c)]));
    this.reserve(claimed, this.clock.now()).then(
      (calls) => this.send(calls, deliveries),
      (error: unknown) => {
        // The claims stay leased: another pass takes them back when the lease ends.
        this.logger.error(`reserving ${claimed.length} message(s) failed: ${describe(error)}`);
        for (const d of deliveries.values()) d.resolve();
      },
    );
    return claimed.map((c) => this.track(c, deliveries.get(c.id)!.done));
  }

  private send(calls: Call[], deliveries: Map<string, Delivery>): void {
    for (const call of calls) {
      for (const id of new Set(call.mine.map((r) => r.messageId))) deliveries.get(id)!.calls++;
    }
    for (const d of deliveries.values()) if (d.calls === 0) this.complete(d);
    for (const call of calls) void this.call(call, deliveries);
  }

  private complete(d: Delivery): void {
    if (d.broken) return;
    this.finish({
      message: d.message,
      outcome: d.outcome,
      attempts: d.attempts,
      lastError: d.lastError,
      held: d.held,
    }).then(d.resolve, d.reject);
  }

  private track(c: Claimed, work: Promise<void>): Promise<void> {
    this.running++;
    const p = work
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
      // The due messages of the same groups come along (at most `limit` more), so that the
      // identical cards of one group (an interview's) are claimed together and can share a call.
      `WITH picked AS (
         SELECT id, group_key FROM messages
          WHERE status IN ('queued', 'sending') AND next_attempt_at <= $1
          ORDER BY next_attempt_at
          LIMIT $4
          FOR UPDATE SKIP LOCKED
       ), siblings AS (
         SELECT id FROM messages
          WHERE group_key IN (SELECT group_key FROM picked WHERE group_key IS NOT NULL)
            AND status IN ('queued', 'sending') AND next_attempt_at <= $1
            AND id NOT IN (SELECT id FROM picked)
          LIMIT $4
          FOR UPDATE SKIP LOCKED
       )
       UPDATE messages m
          SET status = 'sending', lease_until = $2, next_attempt_at = $2, leased_by = $3,
              attempts = m.attempts + 1, updated_at = $1
        WHERE m.id IN (SELECT id FROM picked UNION ALL SELECT id FROM siblings)
        RETURNING m.id, m.attempts, m.kind, m.msgtype, m.agent_id, m.content`,
      [now, leaseUntil, this.instanceId, limit],
    );
    const rows = returned<{
      id: string;
      attempts: number;
      kind: string;
      msgtype: Claimed['msgtype'];
      agent_id: number;
      content: Record<string, unknown>;
    }>(result);
    return rows.map((r) => ({
      id: r.id,
      attempts: Number(r.attempts),
      kind: r.kind,
      msgtype: r.msgtype,
      agentId: Number(r.agent_id),
      content: r.content,
    }));
  }

  private async call(call: Call, deliveries: Map<string, Delivery>): Promise<void> {
    const { body } = call;
    const shares = new Map<string, number>();
    for (const r of call.mine) shares.set(r.messageId, (shares.get(r.messageId) ?? 0) + 1);
    const of = (r: PlannedRecipient) => deliveries.get(r.messageId)!;
    try {
      const res = await this.calls.run(() =>
        this.client.sendMessage(
          {
            touser: call.touser.join('|'),
            msgtype: body.msgtype,
            agentid: body.agentId,
            [body.msgtype]: withChunkTaskId(body, call.touser),
            enable_duplicate_check: 1,
            duplicate_check_interval: DUPLICATE_CHECK_INTERVAL_S,
          },
          {
            onAttempt: (a) => {
              for (const [id, n] of shares) {
                deliveries.get(id)!.attempts.push({ ...a, recipientCount: n });
              }
            },
          },
        ),
      );
      this.applyResult(call.mine, res, of, this.clock.now());
    } catch (error) {
      if (!(error instanceof WeComApiError)) {
        for (const id of shares.keys()) {
          const d = deliveries.get(id)!;
          if (!d.broken) d.reject(error);
          d.broken = true;
        }
        return;
      }
      // The deployment's fault (wrong secret, untrusted address...), not the message's: it
      // waits for the credentials to work again, and the token provider pauses calls meanwhile.
      const held = isCredentialsRejected(error);
      if (held) this.tokens.reportRejected(error);
      for (const r of call.mine) {
        const d = of(r);
        d.lastError = error;
        if (held) {
          d.held = true;
          d.outcome.set(r.id, { status: call.shared ? 'sending' : 'pending' });
        } else if (error.errcode === 81013) {
          // No valid recipient in this chunk: WeCom may list them in invaliduser, or not.
          d.outcome.set(r.id, { status: 'invalid_user' });
        } else if (error.retryable && d.message.attempts < MAX_ATTEMPTS) {
          d.outcome.set(r.id, { status: call.shared ? 'sending' : 'pending' });
        } else {
          d.outcome.set(r.id, { status: 'failed' });
        }
      }
    }
    for (const id of shares.keys()) {
      const d = deliveries.get(id)!;
      if (--d.calls === 0) this.complete(d);
    }
  }

  /**
   * Picks, for a whole claimed batch at once, the recipients to send to now and marks them
   * `sending`, under per-member advisory locks so two instances cannot both spend a member's
   * last slot of the minute or hour. Members over either budget wait (rate_limited, with
   * not_before) for the window that frees a slot. One transaction: the first statement reads the
   * open recipients and takes the locks (in a fixed order, so instances cannot deadlock), the
   * second, whose snapshot is taken after the locks are held, counts each member's minute and
   * hour and decides in one UPDATE; a
   * third keeps the key of each shared call on its recipients before any call is made.
   */
  private async reserve(batch: Claimed[], now: Date): Promise<Call[]> {
    return this.dataSource.transaction(async (tx) => {
      // Members whose mapping turned inactive (they left WeCom, or were disabled) after the
      // message was queued are not sent to.
      await tx.query(
        `UPDATE message_recipients r SET status = 'inactive_mapping', not_before = NULL
           FROM messages m, user_mappings um
          WHERE r.message_id = ANY($1::uuid[]) AND r.status IN ('pending', 'rate_limited')
            AND m.id = r.message_id AND um.corp_id = m.corp_id AND um.status <> 'active'
            AND lower(um.wecom_user_id) = lower(r.wecom_user_id)`,
        [batch.map((c) => c.id)],
      );
      const open: {
        id: string;
        message_id: string;
        wecom_user_id: string;
        status: RecipientStatus;
        send_key: string | null;
      }[] = await tx.query(
        `WITH open AS (
           SELECT id, message_id, wecom_user_id, status, send_key,
                  status <> 'sending' AND (not_before IS NULL OR not_before <= $2) AS candidate
             FROM message_recipients
            WHERE message_id = ANY($1::uuid[]) AND status IN ('pending', 'sending', 'rate_limited')
         ), locks AS (
           SELECT count(*) AS n FROM (
             SELECT pg_advisory_xact_lock(hashtext('wecom-member:' || u)) FROM (
               SELECT DISTINCT lower(wecom_user_id) AS u FROM open WHERE candidate ORDER BY 1
             ) AS members
           ) AS taken
         )
         SELECT id, message_id, wecom_user_id, status, send_key FROM open
          WHERE status = 'sending' OR (candidate AND (SELECT n FROM locks) >= 0)
          ORDER BY id`,
        [batch.map((c) => c.id), now],
      );
      const byId = new Map(batch.map((c) => [c.id, c]));
      const calls: Call[] = [];
      const resend = new Map<string, PlannedRecipient[]>();
      const resendShared = new Map<string, PlannedRecipient[]>();
      const candidates: PlannedRecipient[] = [];
      for (const r of open) {
        const one = { id: String(r.id), messageId: r.message_id, wecomUserId: r.wecom_user_id };
        if (r.status !== 'sending') candidates.push(one);
        // Recipients left `sending` by a call whose outcome was never saved go out again
        // exactly as before: with their message's own chunk, or with the whole shared call.
        else if (r.send_key) push(resendShared, r.send_key, one);
        else push(resend, r.message_id, one);
      }
      for (const [id, rs] of resend) {
        for (const chunk of chunks(rs, MAX_TOUSER)) {
          calls.push({ body: byId.get(id)!, touser: ids(chunk), mine: chunk, shared: false });
        }
      }
      if (resendShared.size > 0) {
        const members: { send_key: string; wecom_user_id: string }[] = await tx.query(
          `SELECT send_key, wecom_user_id FROM message_recipients
            WHERE send_key = ANY($1::text[]) ORDER BY id`,
          [[...resendShared.keys()]],
        );
        const lists = new Map<string, string[]>();
        for (const m of members) push(lists, m.send_key, m.wecom_user_id);
        for (const [key, mine] of resendShared) {
          const body = byId.get(mine[0].messageId)!;
          calls.push({ body, touser: lists.get(key) ?? ids(mine), mine, shared: true });
        }
      }
      if (candidates.length === 0) return calls;

      const members = candidates.map((r) => r.wecomUserId.toLowerCase());
      const decided = returned<{ id: string; status: RecipientStatus }>(
        await tx.query(
          `WITH cand AS (
             SELECT id, member, n FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS c(id, member, n)
           ), used AS (
             SELECT lower(wecom_user_id) AS member,
                    count(*) FILTER (WHERE last_attempt_at > $4) AS minute,
                    min(last_attempt_at) FILTER (WHERE last_attempt_at > $4) AS oldest_minute,
                    count(*) AS hour, min(last_attempt_at) AS oldest_hour
               FROM message_recipients
              WHERE lower(wecom_user_id) = ANY($3::text[]) AND status IN ('sending', 'delivered')
                AND last_attempt_at > $8
              GROUP BY 1
           ), ranked AS (
             SELECT c.id, COALESCE(u.oldest_minute, $5) AS oldest_minute,
                    COALESCE(u.oldest_hour, $5) AS oldest_hour,
                    COALESCE(u.minute, 0) + row_number() OVER w AS nth_minute,
                    COALESCE(u.hour, 0) + row_number() OVER w AS nth_hour
               FROM cand c LEFT JOIN used u ON u.member = c.member
             WINDOW w AS (PARTITION BY c.member ORDER BY c.n)
           ), decided AS (
             SELECT id, nth_minute <= $6 AND nth_hour <= $9 AS go,
                    -- The later of the full windows decides when a slot frees up.
                    GREATEST(
                      CASE WHEN nth_minute > $6 THEN oldest_minute + make_interval(secs => $7) END,
                      CASE WHEN nth_hour > $9 THEN oldest_hour + make_interval(secs => $10) END
                    ) AS wait_until
               FROM ranked
           )
           UPDATE message_recipients r
              SET status = CASE WHEN k.go THEN 'sending' ELSE 'rate_limited' END,
                  last_attempt_at = CASE WHEN k.go THEN $5 ELSE r.last_attempt_at END,
                  not_before = CASE WHEN k.go THEN NULL ELSE k.wait_until END
             FROM decided k
            WHERE r.id = k.id
            RETURNING r.id, r.status`,
          [
            candidates.map((r) => r.id),
            members,
            [...new Set(members)],
            new Date(now.getTime() - PACING_WINDOW_MS),
            now,
            this.perMemberPerMinute,
            (PACING_WINDOW_MS + 1000) / 1000,
            new Date(now.getTime() - PACING_HOUR_MS),
            this.perMemberPerHour,
            (PACING_HOUR_MS + 1000) / 1000,
          ],
        ),
      );
      const sending = new Set(
        decided.filter((d) => d.status === 'sending').map((d) => String(d.id)),
      );
      const fresh = new Map<string, PlannedRecipient[]>();
      for (const r of candidates) if (sending.has(r.id)) push(fresh, r.messageId, r);

      // Messages with the same body share calls, whole messages up to 1000 recipients a call.
      const sameBody = new Map<string, string[]>();
      for (const id of fresh.keys()) {
        const c = byId.get(id)!;
        push(sameBody, `${c.agentId}\n${c.msgtype}\n${JSON.stringify(c.content)}`, id);
      }
      const keyed: { id: string; key: string }[] = [];
      for (const group of sameBody.values()) {
        let pack: PlannedRecipient[][] = [];
        let size = 0;
        const flush = () => {
          if (pack.length > 1) {
            const mine = pack.flat().sort((x, y) => compareIds(x.id, y.id));
            const key = randomUUID();
            for (const r of mine) keyed.push({ id: r.id, key });
            calls.push({
              body: byId.get(mine[0].messageId)!,
              touser: ids(mine),
              mine,
              shared: true,
            });
          } else {
            for (const rs of pack) {
              for (const chunk of chunks(rs, MAX_TOUSER)) {
                calls.push({
                  body: byId.get(chunk[0].messageId)!,
                  touser: ids(chunk),
                  mine: chunk,
                  shared: false,
                });
              }
            }
          }
          pack = [];
          size = 0;
        };
        for (const id of group) {
          const rs = fresh.get(id)!;
          if (size + rs.length > MAX_TOUSER) flush();
          pack.push(rs);
          size += rs.length;
        }
        flush();
      }
      if (keyed.length > 0) {
        await tx.query(
          `UPDATE message_recipients r SET send_key = k.key
             FROM unnest($1::bigint[], $2::text[]) AS k(id, key)
            WHERE r.id = k.id`,
          [keyed.map((k) => k.id), keyed.map((k) => k.key)],
        );
      }
      return calls;
    });
  }

  private applyResult(
    chunk: PlannedRecipient[],
    res: SendMessageResponse,
    of: (r: PlannedRecipient) => Delivery,
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
      const member = r.wecomUserId.toLowerCase();
      const status: RecipientStatus = invalid.has(member)
        ? 'invalid_user'
        : unlicensed.has(member)
          ? 'unlicensed'
          : 'delivered';
      of(r).outcome.set(r.id, {
        status,
        wecomMsgid: res.msgid ?? null,
        responseCode: res.response_code ?? null,
        deliveredAt: status === 'delivered' ? at : null,
      });
    }
  }

  /**
   * Queues a delivered message's outcome; resolves once it is saved. Outcomes that finish
   * while a save is under way are saved together by the next one (a group commit).
   */
  private finish(result: Delivered): Promise<void> {
    return new Promise((resolve, reject) => {
      this.unsaved.push({ result, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    if (this.saving) return;
    this.saving = (async () => {
      while (this.unsaved.length > 0) {
        const batch = this.unsaved.splice(0, SAVE_BATCH);
        try {
          await this.save(batch.map((b) => b.result));
          for (const b of batch) b.resolve();
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    })().finally(() => {
      this.saving = undefined;
      if (this.unsaved.length > 0) this.flush();
    });
  }

  /**
   * Saves outcomes in one statement, atomic without a transaction: every attempt is recorded;
   * for the messages still ours (locked FOR UPDATE: a lease that ran out may have been claimed
   * again elsewhere) the recipients get their fate and the message its status, which follows
   * from its recipients' (the ones just decided overlaid on the stored ones).
   */
  private async save(results: Delivered[]): Promise<void> {
    const now = this.clock.now();
    const attempts = results.flatMap((r) =>
      r.attempts.map((a) => ({ ...a, messageId: r.message.id })),
    );
    const outcomes = results.flatMap((r) => [...r.outcome].map(([id, o]) => ({ id, ...o })));
    const rows = returned<{ id: string; status: MessageStatus; next_attempt_at: Date | null }>(
      await this.dataSource.query(
        `WITH m AS (
           SELECT * FROM unnest($3::uuid[], $4::int[], $5::timestamptz[], $6::int[], $7::text[],
                                $21::boolean[])
             AS m(id, attempts, backoff, errcode, errmsg, held)
         ), o AS (
           SELECT * FROM unnest($16::bigint[], $17::text[], $18::text[], $19::text[], $20::timestamptz[])
             AS o(id, status, msgid, code, delivered_at)
         ), logged AS (
           INSERT INTO message_attempts
                  (message_id, started_at, latency_ms, path, errcode, errmsg, http_status, recipient_count)
           SELECT * FROM unnest($8::uuid[], $9::timestamptz[], $10::int[], $11::text[], $12::int[],
                                $13::text[], $14::int[], $15::int[])
         ), mine AS (
           SELECT msg.id FROM messages msg JOIN m ON m.id = msg.id AND m.attempts = msg.attempts
            WHERE msg.leased_by = $1 AND msg.status = 'sending'
            FOR UPDATE OF msg
         ), fates AS (
           UPDATE message_recipients r
              SET status = o.status, wecom_msgid = COALESCE(o.msgid, r.wecom_msgid),
                  response_code = COALESCE(o.code, r.response_code), delivered_at = o.delivered_at
             FROM o
            WHERE r.id = o.id AND r.message_id IN (SELECT id FROM mine)
         ), now_r AS (
           SELECT r.message_id, COALESCE(o.status, r.status) AS status, r.not_before,
                  COALESCE(o.msgid, r.wecom_msgid) AS msgid, COALESCE(o.code, r.response_code) AS code
             FROM message_recipients r LEFT JOIN o ON o.id = r.id
            WHERE r.message_id IN (SELECT id FROM mine)
         ), counts AS (
           SELECT message_id AS id,
                  count(*) FILTER (WHERE status IN ('pending', 'sending', 'rate_limited')) AS waiting,
                  count(*) FILTER (WHERE status IN ('pending', 'sending')) AS unsent,
                  count(*) FILTER (WHERE status = 'delivered') AS delivered,
                  count(*) AS total,
                  min(not_before) FILTER (WHERE status = 'rate_limited') AS paced,
                  COALESCE(min(msgid) FILTER (WHERE status = 'delivered'), min(msgid)) AS msgid,
                  COALESCE(min(code) FILTER (WHERE status = 'delivered'), min(code)) AS code
             FROM now_r GROUP BY message_id
         ), settled AS (
           SELECT m.id, m.backoff, m.errcode, m.errmsg, m.held, c.paced, c.unsent, c.msgid, c.code,
                  CASE WHEN COALESCE(c.waiting, 0) > 0 THEN 'queued'
                       WHEN COALESCE(c.delivered, 0) = COALESCE(c.total, 0) THEN 'sent'
                       WHEN c.delivered > 0 THEN 'partially_sent'
                       ELSE 'failed' END AS status
             FROM m JOIN mine ON mine.id = m.id LEFT JOIN counts c ON c.id = m.id
         )
         UPDATE messages msg
            SET status = s.status,
                next_attempt_at = CASE WHEN s.status <> 'queued' THEN NULL
                                       WHEN s.unsent > 0 THEN s.backoff
                                       ELSE COALESCE(s.paced, s.backoff) END,
                lease_until = NULL, leased_by = NULL,
                -- waiting for credentials is not an attempt of the message's own
                attempts = CASE WHEN s.held THEN msg.attempts - 1 ELSE msg.attempts END,
                last_errcode = s.errcode, last_errmsg = s.errmsg,
                wecom_msgid = s.msgid, response_code = s.code,
                sent_at = CASE WHEN s.status IN ('sent', 'partially_sent') THEN $2::timestamptz END,
                updated_at = $2
           FROM settled s
          WHERE msg.id = s.id
          RETURNING msg.id, msg.status, msg.next_attempt_at`,
        [
          this.instanceId,
          now,
          results.map((r) => r.message.id),
          results.map((r) => r.message.attempts),
          results.map(
            (r) =>
              new Date(
                now.getTime() +
                  (r.held ? CREDENTIALS_REJECTED_PAUSE_MS : retryDelayMs(r.message.attempts)),
              ),
          ),
          results.map((r) => r.lastError?.errcode ?? null),
          results.map((r) => r.lastError?.message.slice(0, 500) ?? null),
          attempts.map((a) => a.messageId),
          attempts.map((a) => a.startedAt),
          attempts.map((a) => Math.round(a.latencyMs)),
          attempts.map((a) => a.path),
          attempts.map((a) => a.errcode),
          attempts.map((a) => a.errmsg.slice(0, 500)),
          attempts.map((a) => a.httpStatus ?? null),
          attempts.map((a) => a.recipientCount),
          outcomes.map((o) => o.id),
          outcomes.map((o) => o.status),
          outcomes.map((o) => o.wecomMsgid ?? null),
          outcomes.map((o) => o.responseCode ?? null),
          outcomes.map((o) => o.deliveredAt ?? null),
          results.map((r) => r.held),
        ],
      ),
    );
    const saved = new Map(rows.map((r) => [r.id, r]));
    let wakeIn = Infinity;
    for (const { message } of results) {
      const row = saved.get(message.id);
      if (!row) {
        this.logger.warn(`message ${message.id}: lease lost before its outcome was saved`);
        continue;
      }
      this.metrics.messagesSettled.inc({ kind: message.kind, status: row.status });
      if (row.status === 'queued' && row.next_attempt_at) {
        wakeIn = Math.min(wakeIn, new Date(row.next_attempt_at).getTime() - now.getTime());
      }
    }
    if (wakeIn < this.pollMs) setTimeout(() => this.kick(), Math.max(0, wakeIn)).unref();
    const settled = results.flatMap(({ message }) => {
      const row = saved.get(message.id);
      return row ? [{ id: message.id, kind: message.kind, status: row.status }] : [];
    });
    if (settled.length > 0) {
      this.events.emit(MessagesSettledEvent.key, new MessagesSettledEvent(now, settled));
    }
  }
}

/** Between claims: 2 s, 4 s, 8 s … capped at 5 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.max(1, attempts));
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const ids = (rs: PlannedRecipient[]) => rs.map((r) => r.wecomUserId);

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * WeCom wants task_id unique per app, so each chunk of recipients gets its own, derived from
 * the recipients so that a retry of the same chunk sends identical JSON (duplicate check).
 */
function withChunkTaskId(message: Claimed, touser: string[]): Record<string, unknown> {
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

/** TypeORM answers UPDATE … RETURNING on PostgreSQL as [rows, affectedCount]. */
function returned<T>(result: unknown): T[] {
  return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as T[];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
