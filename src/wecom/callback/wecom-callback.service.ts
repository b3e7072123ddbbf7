import {
  BadRequestException,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  ServiceUnavailableException,
  type BeforeApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';

import { Clock } from '../../common/clock.js';
import { registerCronJob } from '../../common/scheduled-job.js';
import type { AppConfigService } from '../../config/app-config.js';
import { WeComSettings } from '../wecom-settings.js';
import { DEFAULT_ORGANIZATION } from '../../organizations/organization.js';
import { OrganizationsService } from '../../organizations/organizations.service.js';
import { readCallbackEvent, type CallbackEventRecord } from './callback-event.js';
import { CallbackXmlError, parseCallbackXml } from './callback-xml.js';
import {
  CallbackCryptoError,
  isTimestampFresh,
  WeComCallbackCrypto,
} from './wecom-callback-crypto.js';
import { RuntimeSettings } from '../../settings/runtime-settings.js';
import { WeComEventHandlers, type WeComCallbackEvent } from './wecom-event-handlers.js';
import { WeComEventsRepository } from './wecom-events.repository.js';

/** WeCom's envelopes are small; anything near this is not from WeCom. */
export const MAX_CALLBACK_BYTES = 64 * 1024;
/** A stored event not dispatched after this long was dropped by a crash: the sweep runs it. */
const SWEEP_AFTER_MS = 60_000;
const SWEEP_BATCH = 100;
const MAX_ERROR_CHARS = 2000;
/**
 * What a URL check's decrypted echostr may be: WeCom sends a short random string of digits.
 * Anything else (an event's XML replayed as echostr) is never echoed back, or the GET would
 * decrypt any correctly signed ciphertext for whoever captured one.
 */
const ECHOSTR_PLAINTEXT = /^[A-Za-z0-9._~+/=-]{1,128}$/;

export type CallbackQuery = Record<string, unknown>;

/**
 * The callback URL ("接收消息服务器"): the URL check (GET) and events (POST). An event is
 * authenticated (fresh timestamp, signature, our corp id as receiver) before anything is
 * decrypted or stored; then it is stored once (WeCom retries are recognised by their dedupe
 * key), acknowledged at once, and dispatched to the registered handlers after the answer, so
 * a slow handler cannot make WeCom retry.
 *
 * Dispatch is at most once: the row is claimed (processed_at) before the handlers run. A crash
 * between storing and claiming is repaired by the sweep; a crash inside a handler is not retried.
 */
@Injectable()
export class WeComCallbackService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(WeComCallbackService.name);
  private readonly inflight = new Set<Promise<void>>();
  constructor(
    private readonly events: WeComEventsRepository,
    private readonly settings: WeComSettings,
    private readonly handlers: WeComEventHandlers,
    private readonly clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    private readonly runtime: RuntimeSettings,
    private readonly organizations: OrganizationsService,
  ) {}

  onModuleInit(): void {
    if (!this.runtime.current().callbackToken) {
      this.logger.log('WeCom callbacks are off: no callback token is configured');
    }
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    registerCronJob(this.scheduler, 'wecom-events-sweep', '30 * * * * *', () =>
      this.dispatchPending(),
    );
  }

  /**
   * GET: WeCom checks the URL by having us decrypt `echostr`; the answer is the plaintext.
   * Same 5-minute window as events, and only an echostr's plaintext is ever answered.
   */
  verifyUrl(query: CallbackQuery): string {
    const crypto = this.crypto();
    const [msgSignature, timestamp, nonce, echostr] = params(query, [
      'msg_signature',
      'timestamp',
      'nonce',
      'echostr',
    ]);
    let plaintext: string;
    try {
      if (!isTimestampFresh(timestamp, this.clock.nowMs())) {
        throw new BadRequestException('Callback timestamp is outside the accepted 5-minute window');
      }
      plaintext = crypto.decryptRequest({ msgSignature, timestamp, nonce, encrypt: echostr });
    } catch (error) {
      throw this.rejected(error);
    }
    if (!ECHOSTR_PLAINTEXT.test(plaintext)) {
      this.logger.warn('Refused a URL check: the echostr plaintext is not a WeCom echostr');
      throw new BadRequestException(
        'echostr does not decrypt to a URL-check string (WeCom sends a short random string)',
      );
    }
    return plaintext;
  }

  /** POST: one encrypted event. Resolves once it is stored (or recognised as a repeat). */
  async receive(query: CallbackQuery, xml: string): Promise<void> {
    const crypto = this.crypto();
    const [msgSignature, timestamp, nonce] = params(query, ['msg_signature', 'timestamp', 'nonce']);
    let fields: Record<string, string>;
    let plaintext: string;
    let record: CallbackEventRecord;
    try {
      const envelope = parseCallbackXml(xml, MAX_CALLBACK_BYTES);
      const encrypt = envelope.Encrypt;
      if (!encrypt) throw new CallbackXmlError('Callback envelope has no Encrypt element');
      // Before the signature: a replayed, correctly signed event is still refused.
      if (!isTimestampFresh(timestamp, this.clock.nowMs())) {
        throw new BadRequestException('Callback timestamp is outside the accepted 5-minute window');
      }
      plaintext = crypto.decryptRequest({ msgSignature, timestamp, nonce, encrypt });
      fields = parseCallbackXml(plaintext, MAX_CALLBACK_BYTES);
      record = readCallbackEvent(fields);
    } catch (error) {
      throw this.rejected(error);
    }

    const receivedAt = this.clock.now();
    const id = await this.events.insertUnlessSeen(record, plaintext, receivedAt);
    if (id === null) {
      this.logger.log(`Repeated callback ${summarize(record)} acknowledged, not processed again`);
      return;
    }
    this.track(this.dispatch(toEvent(id, record, fields)));
  }

  /** Resolves when every dispatch started so far has finished (specs, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.whenIdle();
  }

  /** The sweep: dispatches events stored but never claimed (the process died in between). */
  dispatchPending(): Promise<number> {
    return this.organizations.within(DEFAULT_ORGANIZATION, () => this.dispatchPendingInScope());
  }

  private async dispatchPendingInScope(): Promise<number> {
    const before = new Date(this.clock.nowMs() - SWEEP_AFTER_MS);
    const rows = await this.events.findUnclaimed(before, SWEEP_BATCH);
    let dispatched = 0;
    for (const row of rows) {
      const fields = parseCallbackXml(row.body, MAX_CALLBACK_BYTES);
      if (await this.dispatch(toEvent(row.id, readCallbackEvent(fields), fields))) dispatched++;
    }
    return dispatched;
  }

  /** Claims the row, then runs its handlers; false when another run claimed it first. */
  private async dispatch(event: WeComCallbackEvent): Promise<boolean> {
    if (!(await this.events.claim(event.id, this.clock.now()))) return false;

    const errors: string[] = [];
    for (const handler of this.handlers.handlersFor(event)) {
      try {
        await handler(event);
      } catch (error) {
        errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      }
    }
    if (errors.length > 0) {
      this.logger.warn(`Handler failed for callback ${event.id} (${summarize(event)})`);
      await this.events.recordHandlerError(event.id, errors.join('\n').slice(0, MAX_ERROR_CHARS));
    }
    return true;
  }

  private track(work: Promise<unknown>): void {
    const done: Promise<void> = work
      .then(() => undefined)
      .catch((error: unknown) => {
        this.logger.error(
          `Dispatching a callback failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      })
      .finally(() => this.inflight.delete(done));
    this.inflight.add(done);
  }

  private crypto(): WeComCallbackCrypto {
    // Read per request: an admin may change the token and key at any time.
    const { callbackToken: token, callbackAesKey: aesKey } = this.runtime.current();
    if (!token || !aesKey) {
      throw new ServiceUnavailableException('WeCom callback is not configured');
    }
    return new WeComCallbackCrypto(token, aesKey, this.settings.credentials().corpId);
  }

  /** Says which check failed, never the body, key or plaintext. */
  private rejected(error: unknown): Error {
    let http: Error;
    if (error instanceof CallbackCryptoError) {
      const forbidden = error.reason === 'bad_signature' || error.reason === 'receiveid_mismatch';
      http = forbidden
        ? new ForbiddenException(error.message, { cause: error })
        : new BadRequestException(error.message, { cause: error });
    } else if (error instanceof CallbackXmlError) {
      http = new BadRequestException(`Callback rejected: ${error.message}`, { cause: error });
    } else {
      return error as Error;
    }
    this.logger.warn(`Refused a callback: ${http.message}`);
    return http;
  }
}

/** The named query parameters as strings; a missing or repeated one is a 400. */
function params(query: CallbackQuery, names: string[]): string[] {
  const values = names.map((name) => query[name]);
  if (!values.every((v): v is string => typeof v === 'string' && v.length > 0)) {
    throw new BadRequestException(`Query parameters ${names.join(', ')} are required`);
  }
  return values;
}

function toEvent(
  id: string,
  record: CallbackEventRecord,
  fields: Record<string, string>,
): WeComCallbackEvent {
  return {
    id,
    msgType: record.msgType,
    event: record.event,
    fromUser: record.fromUser,
    agentId: record.agentId,
    createTime: record.createTime,
    eventKey: fields.EventKey ?? null,
    taskId: fields.TaskId ?? null,
    responseCode: fields.ResponseCode ?? null,
    cardType: fields.CardType ?? null,
    fields,
  };
}

function summarize(event: { msgType: string; event: string | null; fromUser: string }): string {
  return `${event.event ?? event.msgType} from ${event.fromUser}`;
}
