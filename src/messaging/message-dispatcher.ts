import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { EventEmitter2, OnEvent } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';

import { Clock } from '../common/clock.js';
import type { OrganizationScope } from '../common/organization-scope.js';
import type { AppConfigService } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { Organization } from '../organizations/organization.js';
import { OrganizationChangedEvent } from '../organizations/organization-events.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { SettingsChangedEvent } from '../settings/settings-events.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import { CONFIG_ERRCODES, isCredentialsRejected } from '../wecom/client/wecom-retry-policy.js';
import { AccessTokenProvider } from '../wecom/token/access-token.provider.js';
import {
  recipientCountsByMessage,
  sendMessageRequest,
  type ClaimedMessage,
  type PlannedCall,
} from './delivery-plan.js';
import { FairLimit } from './fair-limit.js';
import { GroupCommitQueue } from '../common/group-commit-queue.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import {
  MessageDelivery,
  outboxRows,
  outcomesOfResponse,
  type DeliveryResult,
} from './message-delivery.js';
import { MessagesSettledEvent, type SettledMessage } from './message-events.js';
import { MessageOutboxRepository } from './message-outbox.repository.js';
import { RecipientReserver, type ReservedBatch } from './recipient-reserver.js';

/**
 * WeCom calls kept planned (claimed, reserved, not yet answered) per unit of concurrency by the
 * kick loop: enough that the next batch is claimed and reserved while calls are out. Counted in
 * calls, not messages: with the 5 cards of an interview in one call, 16 messages a slot kept
 * about 3 calls a slot planned, and the loop waited on claims and saves with call slots free
 * (bench scenario 1). In calls, what waits for a call slot, and so for its lease, stays as it was
 * for messages of a call each.
 */
const CALLS_PER_SLOT = 16;
/**
 * Messages kept claimed (until their outcome is saved) per unit of concurrency, however few
 * calls they share: bounds a pass's claim and what waits in memory to be saved.
 */
const CLAIMED_PER_SLOT = 64;
/** Most outcomes saved by one statement. */
const SAVE_BATCH = 500;

/** One organisation's share of a pass, claimed and reserved. */
interface ClaimedBatch extends ReservedBatch {
  organization: Organization;
}

/**
 * Delivers the outbox. Claims due messages with FOR UPDATE SKIP LOCKED under a lease (so any
 * number of instances share the work, and a crashed instance's claims come back when the
 * lease ends), has their recipients reserved and paced (RecipientReserver), makes the planned
 * WeCom calls, and records every attempt and every recipient's fate.
 *
 * Every step runs in the claimed messages' organisation (docs/design/organisations.md, section
 * 2): a pass claims for each active organisation in its own scope, a fair share each (see
 * claimFairly), and the reservation, the calls (with that organisation's WeCom app) and the saved
 * outcomes stay in it. A suspended organisation is not active: its messages wait, queued.
 */
@Injectable()
export class MessageDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MessageDispatcher.name);
  readonly instanceId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  /** Claimed messages not yet settled. */
  private claimedCount = 0;
  /** Planned WeCom calls not yet answered. */
  private callsPlanned = 0;
  /** Wakes the pump when a call is answered or a message settled (budget freed). */
  private onBudgetFreed?: () => void;
  private pumping = false;
  private kickedWhilePumping = false;
  /** The pass a kick made while the pump ran (claimKicked), while it runs. */
  private kickedPass?: Promise<void>;
  private stopped = false;
  private pollTimer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * WeCom calls in flight: twice the concurrency, however many messages are claimed. A freed
   * slot goes to the organisations in turn, so one's backlog of claimed calls does not queue
   * ahead of another's single call.
   */
  private readonly callLimit: FairLimit;
  /**
   * The dispatcher's statements in flight (claims, reservations, saved outcomes): at most half
   * the pool, taken by the organisations in turn. Unbounded, a backlog's reservations took every
   * connection and a request's transaction (another organisation's new message among them)
   * queued behind all of them: in bench scenario 5 B's POST was answered in 380 ms at p99 while A's
   * 50,000 drained, against 44 ms alone.
   */
  private readonly databaseLimit: FairLimit;
  /** Outcomes by organisation: each batch saved is one organisation's, in its scope. */
  private readonly outcomes = new Map<string, GroupCommitQueue<DeliveryResult>>();
  /** The organisation asked first in the next pass, so that passes take turns. */
  private firstNext: string | undefined;

  constructor(
    private readonly outbox: MessageOutboxRepository,
    private readonly reserver: RecipientReserver,
    private readonly client: WeComClient,
    private readonly clock: Clock,
    private readonly events: EventEmitter2,
    private readonly signal: MessageDispatchSignal,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    private readonly metrics: MetricsService,
    private readonly tokens: AccessTokenProvider,
    private readonly organizations: OrganizationsService,
  ) {
    this.leaseMs = config.get('DISPATCHER_LEASE_S', { infer: true }) * 1000;
    this.pollMs = config.get('DISPATCHER_POLL_MS', { infer: true });
    this.concurrency = config.get('DISPATCHER_CONCURRENCY', { infer: true });
    this.callLimit = new FairLimit(this.concurrency * 2);
    this.databaseLimit = new FairLimit(
      Math.max(1, Math.floor(config.get('DATABASE_POOL_SIZE', { infer: true }) / 2)),
    );
  }

  /**
   * An organisation's credentials fixed by its admin: its messages held for them go now, not at
   * their next try. Not awaited: the admin's request does not wait for the outbox.
   */
  @OnEvent(SettingsChangedEvent.key)
  onSettingsChanged(event: SettingsChangedEvent): void {
    if (event.next.version === event.previous.version) return;
    this.releaseHeld(event.organization).catch((error: unknown) =>
      this.logger.warn(
        `held messages of ${event.organization.slug} not released: ${describe(error)}`,
      ),
    );
  }

  /** Makes the organisation's messages waiting for working credentials due at once. */
  private async releaseHeld(organization: OrganizationScope): Promise<void> {
    await this.organizations.within(organization, () =>
      this.outbox.releaseHeld(this.clock.now(), [...CONFIG_ERRCODES]),
    );
    this.kick();
  }

  /**
   * A suspended organisation resumed: what waited for it (queued all along, nothing was lost) is
   * due, and goes now rather than at the next poll. Through the signal, so that an instance with
   * its jobs switched off (CRON_ENABLED=false) leaves it to the others, as it does new messages.
   */
  @OnEvent(OrganizationChangedEvent.key)
  onOrganizationChanged(event: OrganizationChangedEvent): void {
    if (event.resumed) this.signal.wake();
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
    await this.kickedPass;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Claims and delivers until nothing is due; safe to call any number of times. */
  kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.kickedWhilePumping = true;
      this.claimKicked();
      return;
    }
    this.pumping = true;
    this.pump()
      .catch((error: unknown) => this.logger.error(`dispatch failed: ${describe(error)}`))
      .finally(() => {
        this.pumping = false;
        if (this.kickedWhilePumping && !this.stopped) {
          this.kickedWhilePumping = false;
          this.kick();
        }
      });
  }

  /** Delivers until nothing is due, awaited: specs use it. Returns how many were processed. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const deliveries: Promise<void>[] = [];
      const claimed = await this.claimFairly(this.concurrency * 4, (batch) =>
        deliveries.push(...this.launch(batch)),
      );
      await Promise.all(deliveries);
      if (claimed === 0) break;
      total += claimed;
    }
    return total;
  }

  /**
   * Claims one pass's due messages (see claimFairly) without reserving them, leaving them to
   * their lease: specs use it to play an instance that dies after claiming.
   */
  async claim(limit: number): Promise<ClaimedMessage[]> {
    const claimed: ClaimedMessage[] = [];
    await this.claimFairly(limit, (batch) => claimed.push(...batch.messages), false);
    return claimed;
  }

  /**
   * Claims up to about `limit` due messages (queued and due, or `sending` with a lease that ran
   * out: a crash), each active organisation's in its own scope and its own transaction, which
   * reserves their recipients too (unless `reserve` is false), and hands each organisation's
   * batch to `take` as soon as it is claimed (a large claim does not hold up a small one).
   * Returns how many were claimed. Every organisation asked gets `ceil(left / organisations
   * asked)`; what the ones with less due leave over is shared again among those that filled
   * their share, so a lone backlog still gets the whole pass, and one more organisation's
   * message is claimed in the very next pass however large another's backlog. Passes start with
   * the organisations in turn, which matters when `limit` is smaller than their number.
   * Organisations are asked at once; the pool queues what it cannot serve.
   */
  private async claimFairly(
    limit: number,
    take: (batch: ClaimedBatch) => void,
    reserve = true,
  ): Promise<number> {
    const active = await this.organizations.active();
    if (active.length === 0 || limit <= 0) return 0;
    const first = Math.max(
      0,
      active.findIndex((o) => o.id === this.firstNext),
    );
    const order = [...active.slice(first), ...active.slice(0, first)];
    const askedFirst = Math.min(order.length, limit);
    this.firstNext = order[(askedFirst < order.length ? askedFirst : 1) % order.length].id;

    const now = this.clock.now();
    const lease = { by: this.instanceId, until: new Date(now.getTime() + this.leaseMs) };
    let claimed = 0;
    let asking = order.slice(0, askedFirst);
    while (claimed < limit && asking.length > 0) {
      const share = Math.ceil((limit - claimed) / asking.length);
      const filledShare: Organization[] = [];
      await Promise.all(
        asking.map(async (organization) => {
          let batch: ReservedBatch;
          try {
            batch = await this.statement(organization, () =>
              reserve
                ? this.reserver.claimAndReserve(now, lease, share)
                : this.outbox
                    .claimDue(now, lease.until, lease.by, share)
                    .then((messages) => ({ messages, calls: [] })),
            );
          } catch (error) {
            // Its messages wait for a later pass; the others' claims go ahead.
            if (!this.stopped) {
              this.logger.error(`claim for ${organization.slug} failed: ${describe(error)}`);
            }
            return;
          }
          const { messages } = batch;
          claimed += messages.length;
          if (messages.length === 0) return;
          take({ organization, ...batch });
          if (messages.length >= share) filledShare.push(organization);
        }),
      );
      asking = filledShare.slice(0, Math.max(0, limit - claimed));
    }
    return claimed;
  }

  /**
   * Keeps up to CALLS_PER_SLOT times the concurrency of calls planned, and at most
   * CLAIMED_PER_SLOT times it of messages claimed; the calls themselves stay at twice the
   * concurrency. A pass claims as many messages as calls are free: each makes at most one
   * (recipients past 1000 aside), and messages that share calls leave room for the next pass.
   */
  private async pump(): Promise<void> {
    while (!this.stopped) {
      const free = Math.min(
        this.concurrency * CALLS_PER_SLOT - this.callsPlanned,
        this.concurrency * CLAIMED_PER_SLOT - this.claimedCount,
      );
      if (free < this.concurrency * 2) {
        await new Promise<void>((resolve) => (this.onBudgetFreed = resolve));
        continue;
      }
      const claimed = await this.claimFairly(free, (batch) => void this.launch(batch));
      if (claimed === 0) break;
    }
    // Deliveries under way finish on their own; a kick meanwhile starts the next pass at once.
  }

  /**
   * A kick while the pump runs (work just committed, or the poll) claims at once, in a pass of
   * its own beside the pump's, of at most twice the concurrency (over the claimed budget if need
   * be). The pump claims again only once enough claimed messages have settled, and its pass may
   * be a large one: a message just queued in one organisation waits for neither, however much
   * of another's backlog is claimed. One such pass at a time; kicks meanwhile make one more.
   */
  private claimKicked(): void {
    if (this.kickedPass) return;
    const overshoot = this.concurrency * 2;
    const callCeiling = this.concurrency * CALLS_PER_SLOT + overshoot;
    const ceiling = this.concurrency * CLAIMED_PER_SLOT + overshoot;
    this.kickedPass = (async () => {
      while (this.kickedWhilePumping && !this.stopped) {
        const limit = Math.min(
          overshoot,
          callCeiling - this.callsPlanned,
          ceiling - this.claimedCount,
        );
        // Far over the budget: the pump claims as deliveries settle, and kicks again when it ends.
        if (limit < 1) return;
        // Cleared before the claim: a kick during it is for work the claim may not have seen.
        this.kickedWhilePumping = false;
        await this.claimFairly(limit, (batch) => void this.launch(batch));
      }
    })()
      .catch((error: unknown) => this.logger.error(`dispatch failed: ${describe(error)}`))
      .finally(() => (this.kickedPass = undefined));
  }

  /**
   * Sends an organisation's claimed and reserved batch's calls (messages with the same body
   * share calls), and saves each message's outcome once its calls are over: all of it in the
   * organisation's scope, which everything started here inherits.
   */
  private launch({ organization, messages, calls }: ClaimedBatch): Promise<void>[] {
    if (!this.outcomes.has(organization.id)) {
      this.outcomes.set(
        organization.id,
        new GroupCommitQueue<DeliveryResult>(
          (results) => this.statement(organization, () => this.saveOutcomes(results)),
          SAVE_BATCH,
        ),
      );
    }
    return this.organizations.within(organization, () => {
      const deliveries = new Map(messages.map((m) => [m.id, new MessageDelivery(m)]));
      const tracked = messages.map((m) => this.track(m, deliveries.get(m.id)!.done));
      this.send(calls, deliveries);
      return tracked;
    });
  }

  /** The dispatcher's own database work for `organization`: in its scope, within databaseLimit. */
  private statement<T>(organization: Organization, work: () => Promise<T>): Promise<T> {
    return this.organizations.within(organization, () =>
      this.databaseLimit.run(organization.id, work),
    );
  }

  private send(calls: PlannedCall[], deliveries: Map<string, MessageDelivery>): void {
    for (const call of calls) {
      for (const id of recipientCountsByMessage(call).keys()) deliveries.get(id)!.callsOut++;
    }
    for (const delivery of deliveries.values()) {
      if (delivery.callsOut === 0) this.complete(delivery);
    }
    this.callsPlanned += calls.length;
    for (const call of calls) {
      void this.makeCall(call, deliveries).finally(() => {
        this.callsPlanned--;
        this.budgetFreed();
      });
    }
  }

  private budgetFreed(): void {
    const wake = this.onBudgetFreed;
    this.onBudgetFreed = undefined;
    wake?.();
  }

  /** The message's calls are over: its outcome goes to be saved, with its organisation's. */
  private complete(delivery: MessageDelivery): void {
    if (delivery.aborted) return;
    this.outcomes
      .get(delivery.message.organizationId)!
      .save(delivery)
      .then(delivery.resolve, delivery.reject);
  }

  private track(message: ClaimedMessage, work: Promise<void>): Promise<void> {
    this.claimedCount++;
    const tracked = work
      .catch((error: unknown) => this.logger.error(`message ${message.id}: ${describe(error)}`))
      .finally(() => {
        this.claimedCount--;
        this.inFlight.delete(tracked);
        this.budgetFreed();
      });
    this.inFlight.add(tracked);
    return tracked;
  }

  /** Makes one WeCom call and applies its result to the deliveries of the messages it serves. */
  private async makeCall(call: PlannedCall, deliveries: Map<string, MessageDelivery>) {
    const recipientsPerMessage = recipientCountsByMessage(call);
    const deliveryOf = (messageId: string) => deliveries.get(messageId)!;
    try {
      const response = await this.callLimit.run(call.body.organizationId, () =>
        this.client.sendMessage(sendMessageRequest(call), {
          onAttempt: (attempt) => {
            for (const [id, recipientCount] of recipientsPerMessage) {
              deliveryOf(id).attempts.push({ ...attempt, recipientCount });
            }
          },
        }),
      );
      const at = this.clock.now();
      for (const [r, outcome] of outcomesOfResponse(call.recipients, response, at)) {
        deliveryOf(r.messageId).outcomes.set(r.id, outcome);
      }
    } catch (error) {
      if (!(error instanceof WeComApiError)) {
        for (const id of recipientsPerMessage.keys()) deliveryOf(id).abort(error);
        return;
      }
      // The deployment's fault (wrong secret, untrusted address...), not the message's: it
      // waits for the credentials to work again, and the token provider pauses calls meanwhile.
      if (isCredentialsRejected(error)) this.tokens.reportRejected(error);
      for (const r of call.recipients) deliveryOf(r.messageId).recordError(r.id, error, call);
    }
    for (const id of recipientsPerMessage.keys()) {
      const delivery = deliveryOf(id);
      if (--delivery.callsOut === 0) this.complete(delivery);
    }
  }

  /**
   * Saves a batch of one organisation's outcomes (GroupCommitQueue, in its scope), counts them,
   * wakes the loop for the earliest retry due before the next poll, and tells other modules
   * what became of the messages (their listeners run in the same scope).
   */
  private async saveOutcomes(results: DeliveryResult[]): Promise<void> {
    const now = this.clock.now();
    const saved = await this.outbox.saveOutcomes(this.instanceId, now, outboxRows(results, now));
    const savedById = new Map(saved.map((row) => [row.id, row]));
    let wakeIn = Infinity;
    const settled: SettledMessage[] = [];
    for (const { message } of results) {
      const row = savedById.get(message.id);
      if (!row) {
        this.logger.warn(`message ${message.id}: lease lost before its outcome was saved`);
        continue;
      }
      this.metrics.messagesSettled.inc({ kind: message.kind, status: row.status });
      if (row.status === 'queued' && row.nextAttemptAt) {
        wakeIn = Math.min(wakeIn, row.nextAttemptAt.getTime() - now.getTime());
      }
      settled.push({ id: message.id, kind: message.kind, status: row.status });
    }
    if (wakeIn < this.pollMs) setTimeout(() => this.kick(), Math.max(0, wakeIn)).unref();
    if (settled.length > 0) {
      this.events.emit(MessagesSettledEvent.key, new MessagesSettledEvent(now, settled));
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
