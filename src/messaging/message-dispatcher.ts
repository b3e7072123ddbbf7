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
import pLimit, { type LimitFunction } from 'p-limit';

import { Clock } from '../common/clock.js';
import type { AppConfigService } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
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
import { GroupCommitQueue } from './group-commit-queue.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import {
  MessageDelivery,
  outboxRows,
  outcomesOfResponse,
  type DeliveryResult,
} from './message-delivery.js';
import { MessagesSettledEvent, type SettledMessage } from './message-events.js';
import { MessageOutboxRepository } from './message-outbox.repository.js';
import { RecipientReserver } from './recipient-reserver.js';

/**
 * Messages kept claimed per unit of concurrency by the kick loop: enough that the next batch is
 * claimed and reserved while calls are out, and that calls shared by several messages still
 * fill the twice-the-concurrency calls in flight.
 */
const CLAIMED_PER_SLOT = 16;
/** Most outcomes saved by one statement. */
const SAVE_BATCH = 500;

/**
 * Delivers the outbox. Claims due messages with FOR UPDATE SKIP LOCKED under a lease (so any
 * number of instances share the work, and a crashed instance's claims come back when the
 * lease ends), has their recipients reserved and paced (RecipientReserver), makes the planned
 * WeCom calls, and records every attempt and every recipient's fate.
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
  private pumping = false;
  private kickedWhilePumping = false;
  private stopped = false;
  private pollTimer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  /** WeCom calls in flight: twice the concurrency, however many messages are claimed. */
  private readonly callLimit: LimitFunction;
  private readonly outcomes = new GroupCommitQueue<DeliveryResult>(
    (results) => this.saveOutcomes(results),
    SAVE_BATCH,
  );

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
    this.callLimit = pLimit(this.concurrency * 2);
  }

  /**
   * Credentials fixed by an admin: messages held for them go now, not at their next try. Not
   * awaited: the admin's request does not wait for the outbox.
   */
  @OnEvent(SettingsChangedEvent.key)
  onSettingsChanged(event: SettingsChangedEvent): void {
    if (event.next.version === event.previous.version) return;
    this.releaseHeld().catch((error: unknown) =>
      this.logger.warn(`held messages not released: ${describe(error)}`),
    );
  }

  /** Makes the messages waiting for working credentials due at once. */
  private async releaseHeld(): Promise<void> {
    await this.outbox.releaseHeld(this.clock.now(), [...CONFIG_ERRCODES]);
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
      this.kickedWhilePumping = true;
      return;
    }
    this.pumping = true;
    this.organizations
      .within(DEFAULT_ORGANIZATION, () => this.pump())
      .catch((error: unknown) => this.logger.error(`dispatch failed: ${describe(error)}`))
      .finally(() => {
        this.pumping = false;
        if (this.kickedWhilePumping && !this.stopped) {
          this.kickedWhilePumping = false;
          this.kick();
        }
      });
  }

  /** One full pass, awaited: specs and the kick loop use it. Returns how many were processed. */
  drain(): Promise<number> {
    return this.organizations.within(DEFAULT_ORGANIZATION, () => this.drainInScope());
  }

  private async drainInScope(): Promise<number> {
    let total = 0;
    for (;;) {
      const claimed = await this.claim(this.concurrency * 4);
      if (claimed.length === 0) break;
      await Promise.all(this.launch(claimed));
      total += claimed.length;
    }
    return total;
  }

  /** Due = queued and its time has come, or `sending` with a lease that ran out (a crash). */
  claim(limit: number): Promise<ClaimedMessage[]> {
    const now = this.clock.now();
    const leaseUntil = new Date(now.getTime() + this.leaseMs);
    return this.outbox.claimDue(now, leaseUntil, this.instanceId, limit);
  }

  /**
   * Keeps up to CLAIMED_PER_SLOT times the concurrency claimed; the calls themselves stay at
   * twice the concurrency.
   */
  private async pump(): Promise<void> {
    while (!this.stopped) {
      const free = this.concurrency * CLAIMED_PER_SLOT - this.claimedCount;
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
  private launch(claimed: ClaimedMessage[]): Promise<void>[] {
    const deliveries = new Map(claimed.map((m) => [m.id, new MessageDelivery(m)]));
    this.reserver.reserve(claimed, this.clock.now()).then(
      (calls) => this.send(calls, deliveries),
      (error: unknown) => {
        // The claims stay leased: another pass takes them back when the lease ends.
        this.logger.error(`reserving ${claimed.length} message(s) failed: ${describe(error)}`);
        for (const delivery of deliveries.values()) delivery.resolve();
      },
    );
    return claimed.map((m) => this.track(m, deliveries.get(m.id)!.done));
  }

  private send(calls: PlannedCall[], deliveries: Map<string, MessageDelivery>): void {
    for (const call of calls) {
      for (const id of recipientCountsByMessage(call).keys()) deliveries.get(id)!.callsOut++;
    }
    for (const delivery of deliveries.values()) {
      if (delivery.callsOut === 0) this.complete(delivery);
    }
    for (const call of calls) void this.makeCall(call, deliveries);
  }

  /** The message's calls are over: its outcome goes to be saved. */
  private complete(delivery: MessageDelivery): void {
    if (delivery.aborted) return;
    this.outcomes.save(delivery).then(delivery.resolve, delivery.reject);
  }

  private track(message: ClaimedMessage, work: Promise<void>): Promise<void> {
    this.claimedCount++;
    const tracked = work
      .catch((error: unknown) => this.logger.error(`message ${message.id}: ${describe(error)}`))
      .finally(() => {
        this.claimedCount--;
        this.inFlight.delete(tracked);
      });
    this.inFlight.add(tracked);
    return tracked;
  }

  /** Makes one WeCom call and applies its result to the deliveries of the messages it serves. */
  private async makeCall(call: PlannedCall, deliveries: Map<string, MessageDelivery>) {
    const recipientsPerMessage = recipientCountsByMessage(call);
    const deliveryOf = (messageId: string) => deliveries.get(messageId)!;
    try {
      const response = await this.callLimit(() =>
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
   * Saves a batch of outcomes (GroupCommitQueue), counts them, wakes the loop for the earliest
   * retry due before the next poll, and tells other modules what became of the messages.
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
