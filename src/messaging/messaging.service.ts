import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import { Clock } from '../common/clock.js';
import { TransactionHost } from '../database/transaction-host.js';
import { MetricsService } from '../metrics/metrics.service.js';
import {
  answersFor,
  MemberRenamedEvent,
  type MemberLookup,
  type MembersRead,
} from '../user-mappings/member.js';
import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import type { WeComMsgType } from '../wecom/client/wecom.types.js';
import { WeComSettings, type WeComCredentials } from '../wecom/wecom-settings.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import { assertContent, assertRecipients } from './message-content.js';
import { MessageEntity, type MessageStatus } from './message.entity.js';
import { MessagesRepository, type NewMessage, type NewRecipient } from './messages.repository.js';

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
 * transaction when one is open) and returns; MessageDispatcher delivers.
 */
@Injectable()
export class MessagingService {
  constructor(
    private readonly messages: MessagesRepository,
    private readonly mappings: UserMappingsService,
    private readonly db: TransactionHost,
    private readonly settings: WeComSettings,
    private readonly clock: Clock,
    private readonly signal: MessageDispatchSignal,
    private readonly metrics: MetricsService,
  ) {}

  async send(request: SendRequest, read?: MembersRead): Promise<MessageEntity> {
    const [message] = await this.sendMany([request], read);
    return message;
  }

  /**
   * Several messages at once (a booking sends one per person), answered in the order asked:
   * one mappings lookup for all their recipients, then one statement for all the messages and
   * their recipients, in one transaction (the caller's when one is open). Each message is checked
   * and keyed as `send`'s. `read`: the mappings the caller's open transaction has read already;
   * when they answer for every recipient (platform users only), they are used instead of a lookup.
   */
  async sendMany(requests: readonly SendRequest[], read?: MembersRead): Promise<MessageEntity[]> {
    for (const request of requests) {
      assertRecipients(request.to);
      assertContent(request.msgtype, request.content);
    }
    for (const request of requests) {
      this.metrics.messagesQueued.inc({ kind: request.kind, msgtype: request.msgtype });
    }
    const messages = await this.db.transaction(async () => {
      const credentials = await this.settings.credentials();
      const to = requests.flatMap((r) => r.to);
      const platformUserIds = [...new Set(to.filter(isPlatform).map((r) => r.platformUserId))];
      const wecomUserIds = [...new Set(to.flatMap((r) => (isPlatform(r) ? [] : [r.wecomUserId])))];
      const lookup: MemberLookup =
        wecomUserIds.length === 0 && answersFor(read, credentials.corpId, platformUserIds)
          ? { members: read.members, inactive: new Set() }
          : await this.mappings.lookupMembers(credentials.corpId, platformUserIds, wecomUserIds);
      return this.write(requests, credentials, lookup);
    });
    // Joined to a caller's transaction, the messages are visible to the dispatcher only once
    // that commits.
    this.db.afterCommit(() => this.signal.wake());
    return messages;
  }

  /** How many messages wait in the outbox, and when the oldest of them was queued. */
  outboxBacklog(): Promise<{ depth: number; oldest: Date | null }> {
    return this.messages.outboxBacklog();
  }

  /** Recipients still waiting for a member who changed WeCom userid follow them. */
  @OnEvent(MemberRenamedEvent.key, { suppressErrors: false })
  async followRenamedMember(event: MemberRenamedEvent): Promise<void> {
    await this.messages.followRenamedMember(
      event.corpId,
      event.oldWecomUserId,
      event.newWecomUserId,
    );
  }

  /**
   * Resolves platform ids through the mappings looked up (unknown ones are recorded as
   * `no_mapping`, members whose mapping is not active as `inactive_mapping`), drops repeated
   * recipients, and inserts the messages with their recipients in one statement. A key already
   * taken (a retried request, or a concurrent send that won the race) inserts nothing and answers
   * that message; so does a key asked twice in one call, with the first of them.
   */
  private async write(
    requests: readonly SendRequest[],
    { corpId, agentId }: Pick<WeComCredentials, 'corpId' | 'agentId'>,
    lookup: MemberLookup,
  ): Promise<MessageEntity[]> {
    const keys = requests.map((r) => r.idempotencyKey ?? `${r.kind}:${crypto.randomUUID()}`);
    const rows = new Map<string, NewMessage>();
    requests.forEach((request, i) => {
      if (rows.has(keys[i])) return;
      const now = this.clock.now();
      const recipients = resolveRecipients(request.to, lookup);
      // Nobody to deliver to: the message is kept (the history says why) but never queued.
      const deliverable = recipients.some((r) => r.status === 'pending');
      rows.set(keys[i], {
        corpId,
        agentId,
        kind: request.kind,
        msgtype: request.msgtype,
        content: request.content,
        idempotencyKey: keys[i],
        groupKey: request.groupKey ?? null,
        status: deliverable ? 'queued' : 'skipped',
        nextAttemptAt: deliverable
          ? new Date(Math.max(now.getTime(), request.notBefore?.getTime() ?? 0))
          : null,
        createdBy: request.createdBy ?? null,
        createdAt: now,
        recipients,
      });
    });
    const inserted = await this.messages.insertMany([...rows.values()]);
    const taken = [...rows.keys()].filter((key) => !inserted.has(key));
    const existing = taken.length > 0 ? await this.messages.findByIdempotencyKeys(taken) : null;
    const answers = new Map<string, MessageEntity>();
    for (const [key, row] of rows) {
      const written = inserted.get(key);
      const message = written ? toMessageEntity(row, written) : existing?.get(key);
      // Taken, yet gone when read (deleted in between): an error, as it always was.
      if (!message) throw new Error('A message took the idempotency key, yet none holds it now');
      answers.set(key, message);
    }
    return keys.map((key) => answers.get(key)!);
  }
}

/** The message as `insertMany` wrote it, without reading it back. */
function toMessageEntity(
  row: NewMessage,
  written: { id: string; status: MessageStatus },
): MessageEntity {
  return Object.assign(new MessageEntity(), {
    id: written.id,
    corpId: row.corpId,
    agentId: row.agentId,
    kind: row.kind,
    msgtype: row.msgtype,
    content: row.content,
    idempotencyKey: row.idempotencyKey,
    groupKey: row.groupKey,
    status: written.status,
    attempts: 0,
    nextAttemptAt: row.nextAttemptAt,
    leaseUntil: null,
    leasedBy: null,
    wecomMsgid: null,
    responseCode: null,
    lastErrcode: null,
    lastErrmsg: null,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.createdAt,
    sentAt: null,
  });
}

/**
 * The recipient rows of a message, in the order named. A member whose mapping is not active
 * (left WeCom, disabled) is not sent to, whether named by platform id or by WeCom userid; the
 * same person twice (directly, or through two ids) gets one row: the first.
 */
export function resolveRecipients(
  to: readonly RecipientRef[],
  lookup: MemberLookup,
): NewRecipient[] {
  const seen = new Set<string>();
  const rows: NewRecipient[] = [];
  for (const ref of to) {
    let row: NewRecipient;
    if (isPlatform(ref)) {
      const mapping = lookup.members.get(ref.platformUserId);
      // A mapping stored before '@all' was refused must not turn into a broadcast.
      const usable = mapping && mapping.wecomUserId.toLowerCase() !== '@all' ? mapping : undefined;
      row = {
        platformUserId: ref.platformUserId,
        wecomUserId: usable?.wecomUserId ?? null,
        status: !usable
          ? 'no_mapping'
          : usable.status !== 'active'
            ? 'inactive_mapping'
            : 'pending',
      };
    } else {
      const inactive = lookup.inactive.has(ref.wecomUserId.toLowerCase());
      row = {
        platformUserId: null,
        wecomUserId: ref.wecomUserId,
        status: inactive ? 'inactive_mapping' : 'pending',
      };
    }
    const person =
      row.wecomUserId !== null ? `w:${row.wecomUserId.toLowerCase()}` : `p:${row.platformUserId}`;
    if (seen.has(person)) continue;
    seen.add(person);
    rows.push(row);
  }
  return rows;
}

function isPlatform(ref: RecipientRef): ref is { platformUserId: string } {
  return 'platformUserId' in ref && typeof ref.platformUserId === 'string';
}
