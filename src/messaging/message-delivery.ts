import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import {
  CREDENTIALS_REJECTED_PAUSE_MS,
  isCredentialsRejected,
} from '../wecom/client/wecom-retry-policy.js';
import type { SendMessageResponse, WeComAttempt } from '../wecom/client/wecom.types.js';
import type { ClaimedMessage, PlannedCall, PlannedRecipient } from './delivery-plan.js';
import type { OutcomeRows } from './message-outbox.repository.js';
import type { RecipientStatus } from './message-recipient.entity.js';

/** A message that still fails after this many claims is given up as failed. */
export const MAX_ATTEMPTS = 8;

/** Between claims: 2 s, 4 s, 8 s … capped at 5 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.max(1, attempts));
}

export interface RecipientOutcome {
  status: RecipientStatus;
  wecomMsgid?: string | null;
  responseCode?: string | null;
  deliveredAt?: Date | null;
}

/** One HTTP attempt of a call, with how many of the message's recipients it was for. */
export type MessageAttempt = WeComAttempt & { recipientCount: number };

/** A message's calls are over: what to save. */
export interface DeliveryResult {
  readonly message: ClaimedMessage;
  /** By recipient id. */
  readonly outcomes: ReadonlyMap<string, RecipientOutcome>;
  readonly attempts: readonly MessageAttempt[];
  readonly lastError: WeComApiError | undefined;
  /** WeCom refused the deployment's credentials: the message waits for them, it has not failed. */
  readonly held: boolean;
}

/** A claimed message on its way: what its calls found, and how many are still out. */
export class MessageDelivery implements DeliveryResult {
  readonly outcomes = new Map<string, RecipientOutcome>();
  readonly attempts: MessageAttempt[] = [];
  lastError: WeComApiError | undefined;
  held = false;
  callsOut = 0;
  /** A call failed unexpectedly (not a WeCom error): the message is left to its lease. */
  aborted = false;
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;

  constructor(readonly message: ClaimedMessage) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** A call failed with a WeCom error: the recipient's status follows from the error. */
  recordError(recipientId: string, error: WeComApiError, call: Pick<PlannedCall, 'shared'>) {
    this.lastError = error;
    if (isCredentialsRejected(error)) this.held = true;
    const status = statusAfterError(error, call, this.message.attempts);
    this.outcomes.set(recipientId, { status });
  }

  /** A call failed unexpectedly: the message fails with the error, once. */
  abort(error: unknown): void {
    if (!this.aborted) this.reject(error);
    this.aborted = true;
  }
}

/** Each recipient's fate from WeCom's answer: delivered, unless WeCom listed them as not. */
export function outcomesOfResponse(
  recipients: readonly PlannedRecipient[],
  response: SendMessageResponse,
  at: Date,
): [PlannedRecipient, RecipientOutcome][] {
  const invalid = lowerCasedIds(response.invaliduser);
  const unlicensed = lowerCasedIds(response.unlicenseduser);
  return recipients.map((r) => {
    const member = r.wecomUserId.toLowerCase();
    const status: RecipientStatus = invalid.has(member)
      ? 'invalid_user'
      : unlicensed.has(member)
        ? 'unlicensed'
        : 'delivered';
    return [
      r,
      {
        status,
        wecomMsgid: response.msgid ?? null,
        responseCode: response.response_code ?? null,
        deliveredAt: status === 'delivered' ? at : null,
      },
    ];
  });
}

/** What a WeCom error makes of a call's recipients, for a message claimed `attempts` times. */
export function statusAfterError(
  error: WeComApiError,
  call: Pick<PlannedCall, 'shared'>,
  attempts: number,
): RecipientStatus {
  // Sent again later: a shared call's recipients stay `sending` so that it is resent whole.
  const toRetry: RecipientStatus = call.shared ? 'sending' : 'pending';
  if (isCredentialsRejected(error)) return toRetry;
  // No valid recipient in this chunk: WeCom may list them in invaliduser, or not.
  if (error.errcode === 81013) return 'invalid_user';
  return error.retryable && attempts < MAX_ATTEMPTS ? toRetry : 'failed';
}

/**
 * What the outbox stores of a batch of results: each message's settlement (retried after its
 * backoff, or after the credentials pause when held), every attempt, every recipient's fate.
 */
export function outboxRows(results: readonly DeliveryResult[], now: Date): OutcomeRows {
  return {
    messages: results.map(({ message, lastError, held }) => ({
      id: message.id,
      attempts: message.attempts,
      retryAt: new Date(
        now.getTime() + (held ? CREDENTIALS_REJECTED_PAUSE_MS : retryDelayMs(message.attempts)),
      ),
      errcode: lastError?.errcode ?? null,
      errmsg: lastError?.message ?? null,
      held,
    })),
    attempts: results.flatMap(({ message, attempts }) =>
      attempts.map((a) => ({ ...a, messageId: message.id, httpStatus: a.httpStatus ?? null })),
    ),
    recipients: results.flatMap(({ outcomes }) =>
      [...outcomes].map(([id, o]) => ({
        id,
        status: o.status,
        wecomMsgid: o.wecomMsgid ?? null,
        responseCode: o.responseCode ?? null,
        deliveredAt: o.deliveredAt ?? null,
      })),
    ),
  };
}

function lowerCasedIds(list: string | undefined): Set<string> {
  return new Set(
    (list ?? '')
      .split('|')
      .filter(Boolean)
      .map((u) => u.toLowerCase()),
  );
}
