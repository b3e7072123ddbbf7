import { randomBytes } from 'node:crypto';

import { WeComCallbackCrypto } from '../../src/wecom/callback/wecom-callback-crypto.js';

/** Where the app's callback settings ("接收消息服务器") point, with the Token and EncodingAESKey. */
export interface CallbackTarget {
  url: string;
  token: string;
  encodingAesKey: string;
}

/** One POST of a callback. `status` is the HTTP status, or null when none came back in time. */
export interface CallbackAttempt {
  status: number | null;
  /** Why the attempt did not count as answered: `timeout`, `http 500`, `network: ...`. */
  error: string | null;
  ms: number;
}

/** What became of one event: delivered means some attempt got a 200 within the timeout. */
export interface CallbackDelivery {
  /** `template_card_event`, `change_contact/delete_user`, ... */
  event: string;
  delivered: boolean;
  attempts: CallbackAttempt[];
  /** Set when nothing was sent (no callback URL configured). */
  skipped?: string;
  /** Unix seconds of the event's CreateTime. */
  createTime: number;
}

export interface CallbackPusherOptions {
  corpId: string;
  agentId: number;
  /** WeCom gives up on an answer after about 5 s. */
  timeoutMs: number;
  /** WeCom retries an unanswered callback up to 3 times. */
  retries: number;
  now: () => number;
}

/** One element of the decrypted event XML: strings go in CDATA, numbers as plain text. */
export type CallbackField = readonly [name: string, value: string | number];

const FIELD_NAME = /^[A-Za-z][A-Za-z0-9]*$/;
const KEPT_DELIVERIES = 200;

export class CallbackTargetError extends Error {}

/**
 * Delivers events to the service the way WeCom does: the event XML encrypted and signed with the
 * app's Token and EncodingAESKey (our own WeComCallbackCrypto: this runs in production sandbox
 * mode, where devDependencies are absent), POSTed to the callback URL as
 * `?msg_signature&timestamp&nonce` with the `<xml><ToUserName/><AgentID/><Encrypt/></xml>`
 * envelope, and sent again when no 200 comes back within the timeout. Each attempt is signed
 * afresh (new nonce and timestamp): the receiver must recognise a retry by the event's own
 * fields, not by the envelope.
 */
export class CallbackPusher {
  private target?: { url: URL; crypto: WeComCallbackCrypto };
  private readonly recent: CallbackDelivery[] = [];

  constructor(private readonly options: CallbackPusherOptions) {
    if (!Number.isInteger(options.timeoutMs) || options.timeoutMs < 1) {
      throw new RangeError('callback timeoutMs must be a positive integer');
    }
    if (!Number.isInteger(options.retries) || options.retries < 0) {
      throw new RangeError('callback retries must be a non-negative integer');
    }
  }

  /** Throws CallbackTargetError (a one-line reason, never the token or key) on a bad target. */
  setTarget(target: CallbackTarget | null): void {
    if (target === null) {
      this.target = undefined;
      return;
    }
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      throw new CallbackTargetError('callback url must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CallbackTargetError('callback url must be an absolute http(s) URL');
    }
    if (typeof target.token !== 'string' || !/^[A-Za-z0-9]{1,32}$/.test(target.token)) {
      throw new CallbackTargetError('callback token must be 1-32 letters or digits');
    }
    let crypto: WeComCallbackCrypto;
    try {
      crypto = new WeComCallbackCrypto(target.token, target.encodingAesKey, this.options.corpId);
    } catch {
      throw new CallbackTargetError('callback aesKey must be 43 base64 characters');
    }
    this.target = { url, crypto };
  }

  /** The URL only: the token and key are never read back. */
  describeTarget(): { url: string | null; configured: boolean } {
    return { url: this.target?.url.toString() ?? null, configured: this.target !== undefined };
  }

  /** The most recent deliveries, oldest first. */
  deliveries(): CallbackDelivery[] {
    return this.recent.map((d) => ({ ...d, attempts: [...d.attempts] }));
  }

  clear(): void {
    this.recent.length = 0;
  }

  /**
   * Sends one event and resolves once it was answered with a 200, or every try failed, or
   * `signal` aborted. Never rejects.
   */
  async push(
    event: string,
    fields: readonly CallbackField[],
    signal: AbortSignal,
  ): Promise<CallbackDelivery> {
    const createTime = Number(fields.find(([name]) => name === 'CreateTime')?.[1] ?? 0);
    const delivery: CallbackDelivery = { event, delivered: false, attempts: [], createTime };
    this.remember(delivery);
    const target = this.target;
    if (!target) {
      delivery.skipped = 'no callback URL is configured (POST /__simulator/callback)';
      return delivery;
    }
    const inner = renderXml(fields);
    for (let attempt = 0; attempt <= this.options.retries && !signal.aborted; attempt++) {
      const result = await this.attempt(target, inner, signal);
      delivery.attempts.push(result);
      if (result.status === 200 && result.error === null) {
        delivery.delivered = true;
        break;
      }
    }
    return delivery;
  }

  private async attempt(
    target: { url: URL; crypto: WeComCallbackCrypto },
    inner: string,
    shutdown: AbortSignal,
  ): Promise<CallbackAttempt> {
    const timestamp = String(Math.floor(this.options.now() / 1000));
    const nonce = randomBytes(8).toString('hex');
    const encrypt = target.crypto.encrypt(inner);
    const url = new URL(target.url);
    url.searchParams.set('msg_signature', target.crypto.signature(timestamp, nonce, encrypt));
    url.searchParams.set('timestamp', timestamp);
    url.searchParams.set('nonce', nonce);
    const envelope =
      `<xml><ToUserName>${cdata(this.options.corpId)}</ToUserName>` +
      `<AgentID>${cdata(String(this.options.agentId))}</AgentID>` +
      `<Encrypt>${cdata(encrypt)}</Encrypt></xml>`;
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'text/xml; charset=utf-8' },
        body: envelope,
        signal: AbortSignal.any([timeout, shutdown]),
      });
      // The answer counts only once it is complete, within the same time limit.
      await res.arrayBuffer();
      return {
        status: res.status,
        error: res.status === 200 ? null : `http ${res.status}`,
        ms: elapsed(),
      };
    } catch (error) {
      const reason = timeout.aborted
        ? 'timeout'
        : shutdown.aborted
          ? 'simulator stopped'
          : `network: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`;
      return { status: null, error: reason, ms: elapsed() };
    }
  }

  private remember(delivery: CallbackDelivery): void {
    this.recent.push(delivery);
    if (this.recent.length > KEPT_DELIVERIES) this.recent.shift();
  }
}

function renderXml(fields: readonly CallbackField[]): string {
  const body = fields
    .map(([name, value]) => {
      if (!FIELD_NAME.test(name)) throw new Error(`bad callback field name ${name}`);
      return `<${name}>${typeof value === 'number' ? String(value) : cdata(value)}</${name}>`;
    })
    .join('');
  return `<xml>${body}</xml>`;
}

/** `]]>` cannot appear inside one CDATA section: it is split across two. */
function cdata(value: string): string {
  return `<![CDATA[${value.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}
