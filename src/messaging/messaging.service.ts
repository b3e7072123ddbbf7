import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { In, type DataSource, type EntityManager } from 'typeorm';

import { Clock } from '../common/clock.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { UserMappingEntity } from '../user-mappings/user-mapping.entity.js';
import type { WeComMsgType } from '../wecom/client/wecom.types.js';
import { WeComSettings } from '../wecom/wecom-settings.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import { assertContent } from './message-content.js';
import { MessageRecipientEntity } from './message-recipient.entity.js';
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
  interviewId?: string;
  createdBy?: string;
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

  private async write(request: SendRequest, em: EntityManager): Promise<MessageEntity> {
    const key = request.idempotencyKey ?? `${request.kind}:${crypto.randomUUID()}`;
    const existing = await em.findOneBy(MessageEntity, { idempotencyKey: key });
    if (existing) return existing;

    const { corpId, agentId } = this.settings.credentials();
    const recipients = await this.resolve(request.to, corpId, em);
    const deliverable = recipients.some((r) => r.status === 'pending');
    const now = this.clock.now();
    const inserted = await em
      .createQueryBuilder()
      .insert()
      .into(MessageEntity)
      .values({
        corpId,
        agentId,
        kind: request.kind,
        msgtype: request.msgtype,
        content: request.content as never,
        idempotencyKey: key,
        interviewId: request.interviewId ?? null,
        status: deliverable ? 'queued' : 'skipped',
        nextAttemptAt: deliverable ? now : null,
        createdBy: request.createdBy ?? null,
        createdAt: now,
        updatedAt: now,
      })
      // A concurrent send with the same key won the race: return its message instead.
      .orIgnore()
      .returning('id')
      .execute();
    const id = (inserted.raw as { id: string }[])[0]?.id;
    if (!id) return em.findOneByOrFail(MessageEntity, { idempotencyKey: key });
    if (recipients.length > 0) {
      await em.insert(
        MessageRecipientEntity,
        recipients.map((r) => ({ ...r, messageId: id })),
      );
    }
    return em.findOneByOrFail(MessageEntity, { id });
  }

  /** Platform ids through the mappings; unknown ones are recorded as `no_mapping`. */
  private async resolve(to: RecipientRef[], corpId: string, em: EntityManager) {
    const platformIds = [...new Set(to.filter(isPlatform).map((r) => r.platformUserId))];
    const mappings = platformIds.length
      ? await em.findBy(UserMappingEntity, { corpId, platformUserId: In(platformIds) })
      : [];
    const byPlatform = new Map(mappings.map((m) => [m.platformUserId, m.wecomUserId]));
    const seen = new Set<string>();
    const rows: Pick<MessageRecipientEntity, 'platformUserId' | 'wecomUserId' | 'status'>[] = [];
    for (const ref of to) {
      if (isPlatform(ref)) {
        const wecom = byPlatform.get(ref.platformUserId) ?? null;
        const dedupe = wecom ? `w:${wecom.toLowerCase()}` : `p:${ref.platformUserId}`;
        if (seen.has(dedupe)) continue;
        seen.add(dedupe);
        rows.push({
          platformUserId: ref.platformUserId,
          wecomUserId: wecom,
          status: wecom ? 'pending' : 'no_mapping',
        });
      } else {
        const dedupe = `w:${ref.wecomUserId.toLowerCase()}`;
        if (seen.has(dedupe)) continue;
        seen.add(dedupe);
        rows.push({ platformUserId: null, wecomUserId: ref.wecomUserId, status: 'pending' });
      }
    }
    return rows;
  }
}

function isPlatform(ref: RecipientRef): ref is { platformUserId: string } {
  return 'platformUserId' in ref && typeof ref.platformUserId === 'string';
}
