import {
  BadRequestException,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
  type BeforeApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { OnEvent } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';

import { Clock } from '../../common/clock.js';
import { registerCronJob } from '../../common/scheduled-job.js';
import { organizationScope } from '../../common/organization-scope.js';
import type { AppConfigService } from '../../config/app-config.js';
import {
  DEFAULT_ORGANIZATION,
  ORGANIZATION_SLUG_PATTERN,
} from '../../organizations/organization.js';
import type { Organization } from '../../organizations/organization.js';
import { OrganizationChangedEvent } from '../../organizations/organization-events.js';
import { OrganizationsService } from '../../organizations/organizations.service.js';
import { WeComSettings } from '../wecom-settings.js';
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
 * The callback URL ("接收消息服务器"), one per organisation: the URL check (GET) and events
 * (POST). The organisation is found from the URL's slug before anything else; all that follows
 * runs in its scope: an event is authenticated with its Token, EncodingAESKey and corp id (fresh
 * timestamp, signature, its corp id as receiver) before anything is decrypted or stored; then it
 * is stored once in its `wecom_events` (WeCom retries are recognised by their dedupe key),
 * acknowledged at once, and dispatched to the registered handlers after the answer, so a slow
 * handler cannot make WeCom retry. A body signed with another organisation's keys fails the
 * signature check like any forgery.
 *
 * Dispatch is at most once: the row is claimed (processed_at) before the handlers run. A crash
 * between storing and claiming is repaired by the sweep; a crash inside a handler is not retried.
 *
 * A suspended organisation's events are still checked and stored, and acknowledged, but not
 * dispatched: WeCom retries a refused callback a few times and then drops it, so refusing would
 * lose the card taps and contact changes made meanwhile. The sweep, which serves active
 * organisations only, dispatches them once the organisation is resumed (like its messages and
 * reminders, they wait).
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

  async onModuleInit(): Promise<void> {
    const settings = await this.organizations.within(DEFAULT_ORGANIZATION, () =>
      this.runtime.current(),
    );
    if (!settings.callbackToken) {
      this.logger.log('WeCom callbacks are off: no callback token is configured');
    }
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    registerCronJob(this.scheduler, 'wecom-events-sweep', '30 * * * * *', () =>
      this.dispatchPending(),
    );
  }

  /**
   * The organisation whose callback URL ends in `slug`. Unknown and malformed slugs are the same
   * 404 (a URL nobody gave WeCom); ids are not slugs here, the URL names the organisation one way.
   */
  async organizationFor(slug: string): Promise<Organization> {
    const found = ORGANIZATION_SLUG_PATTERN.test(slug)
      ? await this.organizations.find(slug)
      : undefined;
    if (found?.slug !== slug) {
      throw new NotFoundException('No organisation has this callback URL');
    }
    return found;
  }

  /**
   * GET: WeCom checks the URL by having us decrypt `echostr` with the organisation's key; the
   * answer is the plaintext. Same 5-minute window as events, and only an echostr's plaintext is
   * ever answered. A suspended organisation's URL still answers: nothing is stored or sent.
   */
  async verifyUrl(slug: string, query: CallbackQuery): Promise<string> {
    const organization = await this.organizationFor(slug);
    return this.organizations.within(organization, () => this.verifyHere(query));
  }

  /**
   * POST: one encrypted event for `organization`. Resolves once it is stored (or recognised as
   * a repeat); its handlers run after, in the organisation's scope, unless it is suspended.
   */
  receive(organization: Organization, query: CallbackQuery, xml: string): Promise<void> {
    return this.organizations.within(organization, async () => {
      const stored = await this.storeHere(query, xml);
      if (!stored) return;
      if (organization.status !== 'active') {
        this.logger.log(
          `Callback ${summarize(stored)} stored for suspended organisation ${organization.slug}: dispatched once it is resumed`,
        );
        return;
      }
      this.track(this.dispatch(stored));
    });
  }

  /**
   * A suspended organisation resumed: the events stored for it meanwhile are handled now, on the
   * instance that resumed it, instead of at the next minute's sweep. Claims decide who runs an
   * event, so a sweep elsewhere at the same moment runs none of them twice.
   */
  @OnEvent(OrganizationChangedEvent.key)
  onOrganizationChanged(event: OrganizationChangedEvent): void {
    if (!event.resumed) return;
    const organization = event.next;
    this.track(
      this.organizations.within(organization, async () => {
        // Everything unclaimed, however recent: nothing of a suspended organisation's was ever
        // being dispatched by the request that stored it.
        while ((await this.dispatchPendingHere(this.clock.now())) === SWEEP_BATCH) continue;
      }),
    );
  }

  /** Resolves when every dispatch started so far has finished (specs, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.whenIdle();
  }

  /**
   * The sweep: dispatches events stored but never claimed (the process died in between, or the
   * organisation was suspended), for each active organisation in its own scope. One
   * organisation's failure is logged and does not keep the others' events waiting.
   */
  async dispatchPending(): Promise<number> {
    let dispatched = 0;
    for (const organization of await this.organizations.active()) {
      try {
        dispatched += await this.organizations.within(organization, () =>
          this.dispatchPendingHere(),
        );
      } catch (error) {
        this.logger.error(
          `Sweeping the callbacks of organisation ${organization.slug} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    return dispatched;
  }

  private async verifyHere(query: CallbackQuery): Promise<string> {
    const crypto = await this.crypto();
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

  /** Authenticates, decrypts and stores an event in the current organisation; null for a repeat. */
  private async storeHere(query: CallbackQuery, xml: string): Promise<WeComCallbackEvent | null> {
    const crypto = await this.crypto();
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
      return null;
    }
    return toEvent(id, record, fields);
  }

  /** Dispatches up to SWEEP_BATCH events stored before `before` and never claimed; how many ran. */
  private async dispatchPendingHere(
    before = new Date(this.clock.nowMs() - SWEEP_AFTER_MS),
  ): Promise<number> {
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

  /** The current organisation's Token, EncodingAESKey and corp id (the receiveid). */
  private async crypto(): Promise<WeComCallbackCrypto> {
    // Read per request: an admin may change the token and key at any time.
    const { callbackToken: token, callbackAesKey: aesKey } = await this.runtime.current();
    if (!token || !aesKey) {
      throw new ServiceUnavailableException('WeCom callback is not configured');
    }
    return new WeComCallbackCrypto(token, aesKey, (await this.settings.credentials()).corpId);
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
    this.logger.warn(
      `Refused a callback for ${organizationScope.get()?.slug ?? '?'}: ${http.message}`,
    );
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
