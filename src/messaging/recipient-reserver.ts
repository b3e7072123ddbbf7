import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

import type { AppConfigService } from '../config/app-config.js';
import { TransactionHost } from '../database/transaction-host.js';
import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import {
  planFirstCalls,
  planResendCalls,
  type ClaimedMessage,
  type PlannedCall,
  type PlannedRecipient,
  type UnsettledRecipient,
} from './delivery-plan.js';
import { MessageOutboxRepository, type MemberBudget } from './message-outbox.repository.js';

/** A claimed batch and the calls that deliver what its recipients may be sent now. */
export interface ReservedBatch {
  messages: ClaimedMessage[];
  calls: PlannedCall[];
}

/** Who claims, and until when (MessageOutboxRepository.claimDue). */
export interface Lease {
  by: string;
  until: Date;
}

/**
 * Decides, for a whole claimed batch at once, whom to send to now, and plans the calls. One
 * transaction: members whose mapping turned inactive are skipped; the open recipients are read
 * and their members locked (advisory locks, so two instances cannot both spend a member's last
 * slot of the minute or hour); the candidates within their member's budgets become `sending`,
 * the others wait (`rate_limited`) for the window that frees a slot; and the key of each shared
 * call is stored on its recipients before any call is made.
 */
@Injectable()
export class RecipientReserver {
  /**
   * WeCom silently drops a member's 31st message within a minute, and their 1001st within an
   * hour, from one app (wecom-limits.ts); DISPATCHER_MEMBER_PER_MINUTE/HOUR may only lower these.
   */
  private readonly budget: MemberBudget;

  constructor(
    private readonly db: TransactionHost,
    private readonly outbox: MessageOutboxRepository,
    private readonly mappings: UserMappingsService,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    this.budget = {
      perMinute: config.get('DISPATCHER_MEMBER_PER_MINUTE', { infer: true }),
      perHour: config.get('DISPATCHER_MEMBER_PER_HOUR', { infer: true }),
    };
  }

  /**
   * Claims up to `limit` of the scope's organisation's due messages and reserves their
   * recipients in the same transaction: one connection taken from the pool and one commit for
   * both, where a claim and then a reservation each waited for a connection behind the requests
   * (bench scenario 1). A reservation that fails rolls the claim back with it: the messages stay
   * due for the next pass instead of leased, untouched, until the lease runs out.
   */
  claimAndReserve(now: Date, lease: Lease, limit: number): Promise<ReservedBatch> {
    return this.db.transaction(async () => {
      const messages = await this.outbox.claimDue(now, lease.until, lease.by, limit);
      const calls = messages.length > 0 ? await this.reserve(messages, now) : [];
      return { messages, calls };
    });
  }

  reserve(batch: readonly ClaimedMessage[], now: Date): Promise<PlannedCall[]> {
    const messages = new Map(batch.map((m) => [m.id, m]));
    const messageIds = [...messages.keys()];
    return this.db.transaction(async () => {
      await this.skipInactiveMembers(messages);
      const open = await this.outbox.lockOpenRecipients(messageIds, now);
      const unsettled: UnsettledRecipient[] = [];
      const candidates: PlannedRecipient[] = [];
      for (const { status, sendKey, ...recipient } of open) {
        if (status === 'sending') unsettled.push({ ...recipient, sendKey });
        else candidates.push(recipient);
      }
      const sharedKeys = [...new Set(unsettled.flatMap((r) => (r.sendKey ? [r.sendKey] : [])))];
      const calls = planResendCalls(
        unsettled,
        messages,
        await this.outbox.sharedCallLists(sharedKeys),
      );
      if (candidates.length === 0) return calls;

      const sending = await this.outbox.spendMemberSlots(candidates, now, this.budget);
      const first = planFirstCalls(
        candidates.filter((r) => sending.has(r.id)),
        messages,
      );
      await this.outbox.keepSendKeys(first.sendKeys);
      return [...calls, ...first.calls];
    });
  }

  /**
   * Members whose mapping turned inactive (they left WeCom, or were disabled) after the message
   * was queued are not sent to. The messages of a batch may be of different corps.
   */
  private async skipInactiveMembers(messages: ReadonlyMap<string, ClaimedMessage>) {
    const unsent = await this.outbox.unsentRecipients([...messages.keys()]);
    const byCorp = new Map<string, PlannedRecipient[]>();
    for (const recipient of unsent) {
      const corpId = messages.get(recipient.messageId)!.corpId;
      const list = byCorp.get(corpId);
      if (list) list.push(recipient);
      else byCorp.set(corpId, [recipient]);
    }
    const inactive: string[] = [];
    for (const [corpId, recipients] of byCorp) {
      const members = [...new Set(recipients.map((r) => r.wecomUserId))];
      const inactiveMembers = await this.mappings.inactiveAmong(corpId, members);
      for (const r of recipients) {
        if (inactiveMembers.has(r.wecomUserId.toLowerCase())) inactive.push(r.id);
      }
    }
    await this.outbox.markInactiveMapping(inactive);
  }
}
