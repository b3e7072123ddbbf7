import {
  BadGatewayException,
  ConflictException,
  Injectable,
  NotFoundException,
} from '@nestjs/common';

import { Clock } from '../common/clock.js';
import type { Page } from '../common/cursor.js';
import { TransactionHost } from '../database/transaction-host.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import {
  OUTSIDE_VISIBLE_RANGE,
  OUTSIDE_VISIBLE_RANGE_ADVICE,
} from '../wecom/client/wecom-retry-policy.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import type { ListMessagesQueryDto, MessageDto } from './dto/send-message.dto.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import type { MessageAttemptEntity } from './message-attempt.entity.js';
import { WECOM_LIMITS } from '../wecom/wecom-limits.js';
import type { MessageRecipientEntity } from './message-recipient.entity.js';
import type { MessageEntity } from './message.entity.js';
import { MessagesRepository } from './messages.repository.js';

const RECALL_WINDOW_MS = WECOM_LIMITS.recallWindowHours * 3600 * 1000;
/** Invalid recipients whose reason is looked up in WeCom per message shown; the rest say why not. */
const EXPLAINED_PER_READ = 20;

/**
 * WeCom lists every member it would not deliver to in one `invaliduser`: unknown, disabled, left,
 * or outside the app's visible range alike. user/get tells them apart.
 */
export function explainInvalidUser(lookup: { errcode: number } | { status?: number }): string {
  if ('errcode' in lookup) {
    if (lookup.errcode === OUTSIDE_VISIBLE_RANGE) return OUTSIDE_VISIBLE_RANGE_ADVICE;
    if ([40003, 46004, 60111].includes(lookup.errcode)) return 'not a member of the WeCom corp';
    return `invalid user (WeCom listed them in invaliduser; user/get answered errcode ${lookup.errcode})`;
  }
  if (lookup.status === 2) return 'disabled in WeCom';
  if (lookup.status === 5) return 'has left the corp';
  return 'invalid user (WeCom listed them in invaliduser)';
}

/** Reading the message history, and the operator actions on it (retry, recall). */
@Injectable()
export class MessageHistoryService {
  constructor(
    private readonly messages: MessagesRepository,
    private readonly db: TransactionHost,
    private readonly client: WeComClient,
    private readonly clock: Clock,
    private readonly signal: MessageDispatchSignal,
  ) {}

  async list(query: ListMessagesQueryDto): Promise<Page<MessageDto>> {
    const page = await this.messages.page(
      {
        status: query.status,
        kind: query.kind,
        // The interviews module groups an interview's messages under the interview id.
        groupKey: query.interviewId,
        since: query.since,
        recipient: query.recipient,
      },
      query,
    );
    return { items: page.items.map((m) => toMessageDto(m)), nextCursor: page.nextCursor };
  }

  /** The messages sent under a group key (an interview's, for the interviews module), oldest first. */
  async ofGroup(groupKey: string): Promise<MessageDto[]> {
    return (await this.messages.ofGroup(groupKey)).map((m) => toMessageDto(m));
  }

  async get(id: string): Promise<MessageDto> {
    const message = await this.find(id);
    const [recipients, attempts] = await Promise.all([
      this.messages.recipientsOf(id),
      this.messages.attemptsOf(id),
    ]);
    const dto = toMessageDto(message, recipients, attempts);
    await this.explainInvalid(dto);
    return dto;
  }

  /** Says why WeCom refused each invalid recipient, as far as user/get tells now. */
  private async explainInvalid(dto: MessageDto): Promise<void> {
    const invalid = (dto.recipients ?? []).filter(
      (r) => r.status === 'invalid_user' && r.wecomUserId !== null,
    );
    await Promise.all(
      invalid.map(async (r, i) => {
        if (i >= EXPLAINED_PER_READ) {
          r.detail = 'invalid user (WeCom listed them in invaliduser)';
          return;
        }
        try {
          const member = await this.client.getUser(r.wecomUserId!, { backoff: { maxRetries: 0 } });
          r.detail = explainInvalidUser({ status: member.status });
        } catch (error) {
          if (!(error instanceof WeComApiError)) throw error;
          r.detail =
            error.errcode !== null
              ? explainInvalidUser({ errcode: error.errcode })
              : 'invalid user (WeCom listed them in invaliduser; WeCom could not be asked why)';
        }
      }),
    );
  }

  /** Failed recipients go back in the queue; the rest keep their outcome. */
  async retry(id: string): Promise<MessageDto> {
    await this.db.transaction(async () => {
      const status = await this.messages.lockStatus(id);
      if (!status) throw new NotFoundException('Message not found');
      if (status !== 'failed' && status !== 'partially_sent') {
        throw new ConflictException(
          `only failed or partially sent messages can be retried (this one is ${status})`,
        );
      }
      if ((await this.messages.requeueFailedRecipients(id)) === 0)
        throw new ConflictException('no recipient of this message failed; nothing to retry');
      await this.messages.requeue(id, this.clock.now());
    });
    this.db.afterCommit(() => this.signal.wake());
    return this.get(id);
  }

  /**
   * One recall per WeCom msgid. A msgid shared with other messages (one call carried identical
   * content for several) recalls those too: only with `includeShared`, and they are marked too.
   */
  async recall(id: string, includeShared = false): Promise<MessageDto> {
    const message = await this.find(id);
    if (message.status !== 'sent' && message.status !== 'partially_sent') {
      throw new ConflictException(
        `only sent messages can be recalled (this one is ${message.status})`,
      );
    }
    if (!message.sentAt || this.clock.nowMs() - message.sentAt.getTime() > RECALL_WINDOW_MS) {
      throw new ConflictException('WeCom recalls only messages sent in the last 24 hours');
    }
    const msgids = await this.messages.wecomMsgidsOf(id);
    const siblings = await this.messages.sharingMsgids(id, msgids);
    if (siblings.length > 0 && !includeShared) {
      throw new ConflictException({
        message: `this message went out in one WeCom call with ${siblings.length} other message(s); recalling it recalls them too: repeat with ?includeShared=true`,
        sharedWith: siblings,
      });
    }
    try {
      for (const msgid of msgids) await this.client.recallMessage(msgid);
    } catch (error) {
      if (error instanceof WeComApiError) {
        throw new BadGatewayException({
          message: `WeCom refused the recall: ${error.message}`,
          errcode: error.errcode,
        });
      }
      throw error;
    }
    await this.messages.markRecalled([id, ...siblings], this.clock.now());
    return this.get(id);
  }

  private async find(id: string): Promise<MessageEntity> {
    const message = await this.messages.findById(id);
    if (!message) throw new NotFoundException('Message not found');
    return message;
  }
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function toMessageDto(
  m: MessageEntity,
  recipients?: MessageRecipientEntity[],
  attempts?: MessageAttemptEntity[],
): MessageDto {
  return {
    id: m.id,
    kind: m.kind,
    msgtype: m.msgtype,
    content: m.content,
    status: m.status,
    idempotencyKey: m.idempotencyKey,
    interviewId: m.groupKey,
    attempts: m.attempts,
    nextAttemptAt: iso(m.nextAttemptAt),
    wecomMsgid: m.wecomMsgid,
    lastErrcode: m.lastErrcode,
    lastErrmsg: m.lastErrmsg,
    createdAt: m.createdAt.toISOString(),
    sentAt: iso(m.sentAt),
    ...(recipients && {
      recipients: recipients.map((r) => ({
        platformUserId: r.platformUserId,
        wecomUserId: r.wecomUserId,
        status: r.status,
        deliveredAt: iso(r.deliveredAt),
        notBefore: iso(r.notBefore),
      })),
    }),
    ...(attempts && {
      attemptLog: attempts.map((a) => ({
        startedAt: a.startedAt.toISOString(),
        latencyMs: a.latencyMs,
        errcode: a.errcode,
        errmsg: a.errmsg,
        httpStatus: a.httpStatus,
        recipientCount: a.recipientCount,
      })),
    }),
  };
}
