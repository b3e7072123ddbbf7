import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  CallbackTargetError,
  type CallbackDelivery,
  type CallbackTarget,
} from './callback-pusher.js';
import { isTokenMode, TOKEN_MODES, type TokenMode } from './credential-store.js';
import {
  FaultInjector,
  FaultValidationError,
  validateFault,
  type Fault,
  type FaultSpec,
} from './fault-injector.js';
import {
  DEFAULT_USERS,
  UserValidationError,
  validateUsers,
  type SimulatedUser,
} from './member-directory.js';
import type { DeliveredMessage } from './message-log.js';
import {
  CorpValidationError,
  SimulatedCorp,
  validateCorp,
  type ApiRoute,
  type CardClickResult,
  type CorpDescription,
  type CorpEnvironment,
  type CorpSpec,
  type SimulatedCardClick,
  type SimulatorStats,
} from './simulated-corp.js';
import { TrustedIps, TrustedIpsError } from './trusted-ips.js';
import { ErrCode, fail, renderReply, type ApiReply } from './wecom-errors.js';
import { WECOM_LIMITS } from '../../src/wecom/wecom-limits.js';

export { loadUsersFile, type SimulatedUser } from './member-directory.js';
export type { DeliveredMessage } from './message-log.js';
export type { Fault, FaultSpec } from './fault-injector.js';
export { TOKEN_MODES, isTokenMode, type TokenMode } from './credential-store.js';
export type { CallbackDelivery, CallbackTarget } from './callback-pusher.js';
export {
  CorpValidationError,
  SimulatedCorp,
  type CardClickResult,
  type CorpDescription,
  type CorpSpec,
  type SimulatedCardClick,
  type SimulatorStats,
} from './simulated-corp.js';

export interface SimulatorOptions {
  /** The sandbox corp: the first corp, the one every call without a corpId acts on. */
  corpId: string;
  corpSecret: string;
  agentId: number;
  tokenTtlSeconds: number;
  /** What a repeat gettoken returns while the last token is valid (see TokenMode). */
  tokenMode: TokenMode;
  /** Added to every /cgi-bin response (not to /__simulator). */
  latencyMs: number;
  /** Per member of a corp: WeCom counts these per corp and member. */
  perMemberPerMinute: number;
  perMemberPerHour: number;
  /** The sandbox corp's members. */
  users: SimulatedUser[];
  /** Milliseconds clock for expiry, rate windows and recall; tests move it. */
  now: () => number;
  /** Trusted IPs (addresses / CIDRs): calls with a token from elsewhere get 60020. null: all. */
  trustedIps: string[] | null;
  /** Where the sandbox corp pushes events (settable later with setCallback or POST /__simulator/callback). */
  callback?: CallbackTarget;
  /** How long a callback may take to answer before it counts as lost (WeCom: about 5 s). */
  callbackTimeoutMs: number;
  /** Retries of an unanswered callback (WeCom: up to 3). */
  callbackRetries: number;
}

const DEFAULT_OPTIONS: SimulatorOptions = {
  corpId: 'ww-sandbox',
  corpSecret: 'sandbox-secret',
  agentId: 1000002,
  tokenTtlSeconds: 7200,
  tokenMode: 'reuse',
  latencyMs: 0,
  perMemberPerMinute: WECOM_LIMITS.perMemberPerMinute,
  perMemberPerHour: WECOM_LIMITS.perMemberPerHour,
  users: [...DEFAULT_USERS],
  now: Date.now,
  trustedIps: null,
  callbackTimeoutMs: 5000,
  callbackRetries: 3,
};

const MAX_BODY_BYTES = 1024 * 1024;
/** Past this, an oversized upload is cut off instead of drained. */
const MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES;
/** Real bodies nest a few levels; a limit keeps recursive helpers off the stack's edge. */
const MAX_JSON_DEPTH = 32;
/** Bounds stats.calls when a caller probes random paths. */
const MAX_COUNTED_PATHS = 1000;
/** Each corp keeps its own logs; a bound keeps a runaway script from eating the memory. */
const MAX_CORPS = 1000;

type Json = Record<string, unknown>;

type BodyResult = { kind: 'ok'; body: Buffer } | { kind: 'too-large' } | { kind: 'aborted' };

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** No corp has this id (404 on the control API). */
export class UnknownCorpError extends Error {}

/** The corp exists already, or there is no room for another (409 on the control API). */
export class CorpConflictError extends Error {}

/** A control answer sent as 201 Created. */
class Created {
  constructor(readonly body: unknown) {}
}

/**
 * An HTTP server that answers like qyapi.weixin.qq.com for the endpoints this service uses,
 * with a control API under /__simulator/ for tests, benchmarks and sandbox mode.
 *
 * It hosts several corps, as WeCom hosts many companies: the one from the options (the sandbox
 * corp) and any added with addCorp or POST /__simulator/corps. Each has its own secret, agent,
 * members, tokens, rate windows, messages and callback target (SimulatedCorp); an access token
 * acts only on the corp that issued it. The methods below without a corp act on the sandbox
 * corp, as they did when it was the only one; `corp(id)` reaches the others.
 */
export class WeComSimulator {
  private readonly options: SimulatorOptions;
  /** The corp from the options: first, and never removed. */
  private readonly sandboxCorp: SimulatedCorp;
  /** Every corp by id, the sandbox corp first. */
  private readonly corpsById = new Map<string, SimulatedCorp>();
  private readonly corpEnvironment: CorpEnvironment;
  private readonly faultInjector = new FaultInjector();
  private readonly trustedIps = new TrustedIps();
  /** Calls per path across the whole simulator, those no corp can be named for included. */
  private readonly calls = new Map<string, number>();
  private server?: Server;
  private baseUrl?: string;
  private shutdown = shutdownController();

  constructor(options: Partial<SimulatorOptions> = {}) {
    const defined = Object.fromEntries(
      Object.entries(options).filter(([, value]) => value !== undefined),
    ) as Partial<SimulatorOptions>;
    this.options = { ...DEFAULT_OPTIONS, ...defined };
    this.checkOptions();
    this.options.users = validateUsers(this.options.users);
    const o = this.options;
    this.corpEnvironment = {
      now: () => o.now(),
      tokenTtlSeconds: o.tokenTtlSeconds,
      tokenMode: o.tokenMode,
      perMemberPerMinute: o.perMemberPerMinute,
      perMemberPerHour: o.perMemberPerHour,
      callbackTimeoutMs: o.callbackTimeoutMs,
      callbackRetries: o.callbackRetries,
      shutdownSignal: () => this.shutdown.signal,
    };
    this.sandboxCorp = new SimulatedCorp(
      {
        corpId: o.corpId,
        corpSecret: o.corpSecret,
        agentId: o.agentId,
        members: o.users,
        callback: o.callback,
      },
      this.corpEnvironment,
    );
    this.corpsById.set(o.corpId, this.sandboxCorp);
    this.trustedIps.set(o.trustedIps);
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('WeComSimulator is not started');
    return this.baseUrl;
  }

  /** The sandbox corp's id. */
  get corpId(): string {
    return this.sandboxCorp.corpId;
  }

  /** The sandbox corp's agent id. */
  get agentId(): number {
    return this.sandboxCorp.agentId;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server) throw new Error('WeComSimulator is already started');
    const server = createServer((req, res) => {
      this.handle(req, res).catch(() =>
        this.sendJson(res, 500, { errcode: -1, errmsg: 'system busy' }),
      );
    });
    server.keepAliveTimeout = 5000;
    server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.shutdown = shutdownController();
    const address = server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.baseUrl = `http://${shownHost}:${address.port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.baseUrl = undefined;
    this.shutdown.abort();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  // ---- corps ---------------------------------------------------------------------------------

  /** The corp with this id (UnknownCorpError if none); the sandbox corp when no id is given. */
  corp(corpId?: string): SimulatedCorp {
    if (corpId === undefined) return this.sandboxCorp;
    const corp = this.corpsById.get(corpId);
    if (!corp)
      throw new UnknownCorpError(`unknown corpId: ${corpId} (GET /__simulator/corps lists them)`);
    return corp;
  }

  /**
   * Another company's WeCom: its own secret, agent, members and callback target. Throws
   * CorpValidationError (or UserValidationError, CallbackTargetError) for a bad spec and
   * CorpConflictError for a taken corpId. reset() removes it again.
   */
  addCorp(spec: CorpSpec): SimulatedCorp {
    const checked = validateCorp(spec);
    if (this.corpsById.has(checked.corpId)) {
      throw new CorpConflictError(`corp ${checked.corpId} exists already`);
    }
    if (this.corpsById.size >= MAX_CORPS) {
      throw new CorpConflictError(
        `the simulator holds at most ${MAX_CORPS} corps; POST /__simulator/reset removes the added ones`,
      );
    }
    const corp = new SimulatedCorp(checked, this.corpEnvironment);
    this.corpsById.set(corp.corpId, corp);
    return corp;
  }

  /** Every corp, the sandbox corp first; no secrets. */
  corps(): CorpDescription[] {
    return [...this.corpsById.values()].map((corp) => corp.describe());
  }

  /**
   * Calls, deliveries and drops across every corp (`calls` also holds those that named no corp,
   * such as an unknown token); `corp(id).stats()` gives one corp's.
   */
  stats(): SimulatorStats {
    const totals: SimulatorStats = {
      calls: Object.fromEntries(this.calls),
      delivered: 0,
      dropped: 0,
      duplicatesSuppressed: 0,
      truncated: 0,
      undocumentedFields: {},
    };
    for (const corp of this.corpsById.values()) {
      const { delivered, dropped, duplicatesSuppressed, truncated, undocumentedFields } =
        corp.stats();
      totals.delivered += delivered;
      totals.dropped += dropped;
      totals.duplicatesSuppressed += duplicatesSuppressed;
      totals.truncated += truncated;
      for (const [path, count] of Object.entries(undocumentedFields)) {
        totals.undocumentedFields[path] = (totals.undocumentedFields[path] ?? 0) + count;
      }
    }
    return totals;
  }

  // ---- the sandbox corp (corp(id) has the same methods for every corp) ------------------------

  messagesFor(userid: string): DeliveredMessage[] {
    return this.sandboxCorp.messagesFor(userid);
  }

  addUsers(users: SimulatedUser[]): void {
    this.sandboxCorp.addUsers(users);
  }

  issueOAuthCode(userid: string): string {
    return this.sandboxCorp.issueOAuthCode(userid);
  }

  /** A code for someone outside the corp: getuserinfo answers with openid and external_userid. */
  issueExternalOAuthCode(openid: string): string {
    return this.sandboxCorp.issueExternalOAuthCode(openid);
  }

  revokeTokens(): void {
    this.sandboxCorp.revokeTokens();
  }

  /** When WeCom ends this access token (ms by the simulator's clock), whichever corp issued it. */
  tokenExpiry(token: string): number | undefined {
    for (const corp of this.corpsById.values()) {
      const expiry = corp.tokenExpiry(token);
      if (expiry !== undefined) return expiry;
    }
    return undefined;
  }

  /** Switches how gettoken answers repeat calls from now on (reset() restores the option). */
  setTokenMode(mode: TokenMode): void {
    this.sandboxCorp.setTokenMode(mode);
  }

  get currentTokenMode(): TokenMode {
    return this.sandboxCorp.currentTokenMode;
  }

  /** The admin resets the app's Secret in the WeCom console: only the new one gets tokens. */
  setCorpSecret(secret: string): void {
    this.sandboxCorp.setCorpSecret(secret);
  }

  /** Every access token and jsapi ticket issued since start (or reset), revoked ones too. */
  issuedCredentials(): { accessTokens: string[]; jsapiTickets: string[] } {
    return this.sandboxCorp.issuedCredentials();
  }

  /** See SimulatedCorp.cardClickEvent. */
  cardClickEvent(userid: string, msgid: string, buttonKey: string): SimulatedCardClick {
    return this.sandboxCorp.cardClickEvent(userid, msgid, buttonKey);
  }

  /** A member taps a card button: the template_card_event goes to the callback URL over HTTP. */
  clickCard(userid: string, msgid: string, buttonKey: string): Promise<CardClickResult> {
    return this.sandboxCorp.clickCard(userid, msgid, buttonKey);
  }

  /** Points the app's callback settings at a URL, with its Token and EncodingAESKey (or off). */
  setCallback(target: CallbackTarget | null): void {
    this.sandboxCorp.setCallback(target);
  }

  /** The events pushed lately (at most 200), oldest first, with every attempt. */
  callbackDeliveries(): CallbackDelivery[] {
    return this.sandboxCorp.callbackDeliveries();
  }

  /** See SimulatedCorp.deleteUser. */
  deleteUser(userid: string): Promise<CallbackDelivery> {
    return this.sandboxCorp.deleteUser(userid);
  }

  /** An admin changes the member's userid: change_contact/update_user with NewUserID. */
  renameUser(userid: string, newUserid: string): Promise<CallbackDelivery> {
    return this.sandboxCorp.renameUser(userid, newUserid);
  }

  /** The member is disabled (2), re-enabled (1), ...: change_contact/update_user with Status. */
  setUserStatus(userid: string, status: number): Promise<CallbackDelivery> {
    return this.sandboxCorp.setUserStatus(userid, status);
  }

  // ---- the whole simulated WeCom -------------------------------------------------------------

  /**
   * The app's trusted IPs: API calls made with an access token from any other address are
   * refused with 60020 (gettoken is not). null or [] allows every address. One list for every
   * corp.
   */
  setTrustedIps(entries: string[] | null): void {
    this.trustedIps.set(entries);
  }

  /** A fault with a corpId hits only calls on that corp; without one, every call on its path. */
  addFault(fault: FaultSpec): Fault {
    const checked = validateFault(fault);
    if (checked.corpId !== undefined) this.corp(checked.corpId);
    return this.faultInjector.add(checked);
  }

  faults(): Fault[] {
    return this.faultInjector.list();
  }

  clearFaults(): void {
    this.faultInjector.clear();
  }

  /** Added corps are gone; the sandbox corp is as it started (its secret and callback stay). */
  reset(): void {
    for (const id of this.corpsById.keys()) {
      if (id !== this.sandboxCorp.corpId) this.corpsById.delete(id);
    }
    this.sandboxCorp.reset();
    this.calls.clear();
    this.faultInjector.clear();
  }

  private checkOptions(): void {
    const o = this.options;
    const positiveInt = (value: number): boolean => Number.isInteger(value) && value > 0;
    if (typeof o.corpId !== 'string' || o.corpId.length === 0) {
      throw new RangeError('corpId is empty');
    }
    if (typeof o.corpSecret !== 'string' || o.corpSecret.length === 0) {
      throw new RangeError('corpSecret is empty');
    }
    if (!positiveInt(o.agentId)) throw new RangeError('agentId must be a positive integer');
    if (!positiveInt(o.tokenTtlSeconds)) {
      throw new RangeError('tokenTtlSeconds must be a positive integer');
    }
    if (!isTokenMode(o.tokenMode)) {
      throw new RangeError(`tokenMode must be one of ${TOKEN_MODES.join(', ')}`);
    }
    if (!Number.isInteger(o.latencyMs) || o.latencyMs < 0) {
      throw new RangeError('latencyMs must be a non-negative integer');
    }
    if (!positiveInt(o.perMemberPerMinute)) {
      throw new RangeError('perMemberPerMinute must be a positive integer');
    }
    if (!positiveInt(o.perMemberPerHour)) {
      throw new RangeError('perMemberPerHour must be a positive integer');
    }
    if (!positiveInt(o.callbackTimeoutMs)) {
      throw new RangeError('callbackTimeoutMs must be a positive integer');
    }
    if (!Number.isInteger(o.callbackRetries) || o.callbackRetries < 0) {
      throw new RangeError('callbackRetries must be a non-negative integer');
    }
  }

  // ---- HTTP plumbing -------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Prefixing keeps a path such as //cgi-bin/x from being read as a host name.
    const target = req.url ?? '/';
    const url = new URL(target.startsWith('/') ? `http://simulator.invalid${target}` : target);
    const path = url.pathname;
    const isApi = path.startsWith('/cgi-bin/');
    // When WeCom received the call: what it is let in by (its token) is judged as of now.
    const arrivedAt = this.options.now();
    if (isApi) this.countCall(path);

    const body = await this.readBody(req);
    if (body.kind === 'aborted') return;
    if (body.kind === 'too-large') {
      this.sendJson(res, 413, { errcode: -1, errmsg: 'request body exceeds 1 MiB' }, true);
      return;
    }

    if (path.startsWith('/__simulator/')) {
      await this.handleControl(req, res, url, body.body);
      return;
    }
    if (!isApi) {
      this.sendJson(res, 404, { errcode: -1, errmsg: `not found: ${path}` });
      return;
    }

    const route = SimulatedCorp.api.get(path);
    const corp = route ? this.corpOfCall(route, url.searchParams) : undefined;
    corp?.countCall(path);
    const fault = this.faultInjector.take(path, corp?.corpId);
    const ip = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    // A call is let in (trusted IP, method, token) as it arrives; a stall is WeCom holding a call
    // it has let in, so a token that ends meanwhile does not turn it away: the call is still
    // processed, duplicate check included, after the stall, as when a client's retry overtakes it.
    const admitted =
      route && this.admit(route, corp, req.method ?? 'GET', url.searchParams, ip, arrivedAt);
    const delay = this.options.latencyMs + (fault?.delayMs ?? 0);
    if (delay > 0) {
      try {
        await sleep(delay, undefined, { signal: this.shutdown.signal });
      } catch {
        return; // stopped while waiting; the socket is gone
      }
    }
    if (fault?.httpStatus !== undefined) {
      this.sendText(res, fault.httpStatus, STATUS_CODES[fault.httpStatus] ?? 'Error');
      return;
    }
    // A reset while the call waited removes added corps: their tokens are gone with them.
    const current = corp && this.corpsById.get(corp.corpId) === corp ? corp : undefined;
    const reply =
      fault?.errcode !== undefined
        ? fail(fault.errcode)
        : !route
          ? undefined
          : !(admitted instanceof SimulatedCorp)
            ? admitted
            : admitted !== current
              ? fail(route.authenticated ? ErrCode.InvalidToken : ErrCode.InvalidCorpId)
              : this.callApi(route, current, url.searchParams, body.body);
    if (reply === undefined) {
      this.sendJson(res, 404, { errcode: -1, errmsg: `api not found: ${path}` });
      return;
    }
    this.sendJson(res, 200, renderReply(reply, this.options.now(), ip));
  }

  /**
   * The corp a call acts on: gettoken names it by corpid, every other call by its access token.
   * Tokens are random, so at most one corp knows a given one; the sandbox corp is asked first,
   * which keeps the single-corp case at one lookup.
   */
  private corpOfCall(route: ApiRoute, query: URLSearchParams): SimulatedCorp | undefined {
    if (!route.authenticated) {
      const corpId = query.get('corpid');
      return corpId ? this.corpsById.get(corpId) : undefined;
    }
    const token = query.get('access_token');
    if (!token) return undefined;
    for (const corp of this.corpsById.values()) {
      if (corp.tokenExpiry(token) !== undefined) return corp;
    }
    return undefined;
  }

  /** Whether WeCom lets the call in at all, and as which corp: checked as the call arrives. */
  private admit(
    route: ApiRoute,
    corp: SimulatedCorp | undefined,
    method: string,
    query: URLSearchParams,
    ip: string,
    now: number,
  ): SimulatedCorp | ApiReply {
    if (route.authenticated && !this.trustedIps.allows(ip)) return fail(ErrCode.IpNotTrusted);
    if (route.method === 'POST' && method !== 'POST') return fail(ErrCode.RequirePost);
    return route.authenticated ? this.checkToken(corp, query, now) : this.checkCorpId(corp, query);
  }

  /** The call's work, for a caller let in: the body, then the route, at the time it is done. */
  private callApi(
    route: ApiRoute,
    caller: SimulatedCorp,
    query: URLSearchParams,
    raw: Buffer,
  ): ApiReply {
    const now = this.options.now();
    let body: Json = {};
    if (route.method === 'POST') {
      try {
        const parsed: unknown = JSON.parse(raw.toString('utf8'));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          return fail(
            ErrCode.InvalidArgument,
            'Warning: wrong json format. body must be an object',
          );
        }
        if (nestedDeeperThan(parsed, MAX_JSON_DEPTH)) {
          return fail(ErrCode.InvalidArgument, 'Warning: wrong json format. nested too deep');
        }
        body = parsed as Json;
      } catch {
        return fail(ErrCode.InvalidArgument, 'Warning: wrong json format.');
      }
    }
    return route.handle(caller, { query, body, now });
  }

  /** An API call: its token must be one its corp issued and still valid. */
  private checkToken(
    corp: SimulatedCorp | undefined,
    query: URLSearchParams,
    now: number,
  ): SimulatedCorp | ApiReply {
    const token = query.get('access_token');
    if (!token) return fail(ErrCode.MissingToken);
    const check = corp?.checkToken(token, now) ?? 'unknown';
    if (!corp || check === 'unknown') return fail(ErrCode.InvalidToken);
    if (check === 'expired') return fail(ErrCode.TokenExpired);
    return corp;
  }

  /** gettoken, the one call that names its corp itself; the corp then checks the secret. */
  private checkCorpId(
    corp: SimulatedCorp | undefined,
    query: URLSearchParams,
  ): SimulatedCorp | ApiReply {
    if (!query.get('corpid')) return fail(ErrCode.MissingCorpId);
    if (!query.get('corpsecret')) return fail(ErrCode.MissingSecret);
    return corp ?? fail(ErrCode.InvalidCorpId);
  }

  private countCall(path: string): void {
    const count = this.calls.get(path);
    if (count !== undefined) this.calls.set(path, count + 1);
    else if (this.calls.size < MAX_COUNTED_PATHS) this.calls.set(path, 1);
  }

  private readBody(req: IncomingMessage): Promise<BodyResult> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let complete = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_DRAIN_BYTES) req.destroy();
        else if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      req.on('end', () => {
        complete = true;
        resolve(
          size > MAX_BODY_BYTES
            ? { kind: 'too-large' }
            : { kind: 'ok', body: Buffer.concat(chunks) },
        );
      });
      req.on('error', () => resolve({ kind: 'aborted' }));
      req.on('close', () => {
        if (!complete) resolve({ kind: 'aborted' });
      });
    });
  }

  private sendJson(res: ServerResponse, status: number, payload: unknown, close = false): void {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
      ...(close ? { connection: 'close' } : {}),
    });
    res.end(text);
  }

  private sendText(res: ServerResponse, status: number, text: string): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, {
      'content-type': 'text/plain; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  // ---- control API ---------------------------------------------------------------------------

  private async handleControl(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    raw: Buffer,
  ): Promise<void> {
    try {
      const result = await this.control(req.method ?? 'GET', url, raw);
      if (result instanceof Created) this.sendJson(res, 201, result.body);
      else this.sendJson(res, 200, result);
    } catch (error) {
      const status =
        error instanceof ControlError
          ? error.status
          : error instanceof UnknownCorpError
            ? 404
            : error instanceof CorpConflictError
              ? 409
              : error instanceof UserValidationError ||
                  error instanceof FaultValidationError ||
                  error instanceof TrustedIpsError ||
                  error instanceof CallbackTargetError ||
                  error instanceof CorpValidationError
                ? 400
                : undefined;
      if (status === undefined) throw error;
      this.sendJson(res, status, {
        error: STATUS_CODES[status],
        message: (error as Error).message,
      });
    }
  }

  private async control(method: string, url: URL, raw: Buffer): Promise<unknown> {
    const route = `${method} ${url.pathname.replace(/\/+$/, '')}`;
    const json = (): unknown => {
      try {
        return JSON.parse(raw.toString('utf8'));
      } catch {
        throw new ControlError(400, 'body must be valid JSON');
      }
    };
    // The corp a call acts on: ?corpId=, or corpId in a JSON object body; else the sandbox corp.
    const corpOf = (body?: Json): SimulatedCorp =>
      this.controlCorp(url.searchParams.get('corpId'), body?.corpId);
    const member = /^POST \/__simulator\/users\/([^/]+)\/(delete|rename|status)$/.exec(route);
    if (member) return this.changeMember(decodeURIComponent(member[1]!), member[2]!, json, corpOf);
    switch (route) {
      case 'GET /__simulator/corps':
        return this.corps();
      case 'POST /__simulator/corps':
        return new Created(this.addCorp(json() as CorpSpec).describe());
      case 'GET /__simulator/stats': {
        // Without a corpId: the whole simulator (with one corp, that corp's, as always).
        const corpId = url.searchParams.get('corpId');
        return corpId === null ? this.stats() : this.corp(corpId).stats();
      }
      case 'GET /__simulator/messages': {
        const touser = url.searchParams.get('touser');
        if (!touser) throw new ControlError(400, 'touser query parameter is required');
        return corpOf().messagesFor(touser);
      }
      case 'GET /__simulator/faults':
        return this.faults();
      case 'POST /__simulator/faults': {
        const body = json();
        const queryCorp = url.searchParams.get('corpId');
        if (queryCorp === null) return this.addFault(body as FaultSpec);
        const bodyCorp = (body as Json | null)?.corpId;
        if (bodyCorp !== undefined && bodyCorp !== queryCorp) {
          throw new ControlError(400, 'corpId in the query and in the body differ');
        }
        return this.addFault({ ...(objectBody(body) as unknown as FaultSpec), corpId: queryCorp });
      }
      case 'DELETE /__simulator/faults':
        this.clearFaults();
        return { cleared: true };
      case 'POST /__simulator/tokens/revoke':
        corpOf().revokeTokens();
        return { revoked: true };
      case 'GET /__simulator/tokens/mode':
        return { mode: corpOf().currentTokenMode };
      case 'POST /__simulator/tokens/mode': {
        const body = objectBody(json() ?? {});
        const corp = corpOf(body);
        if (!isTokenMode(body.mode)) {
          throw new ControlError(400, `mode must be one of ${TOKEN_MODES.join(', ')}`);
        }
        corp.setTokenMode(body.mode);
        return { mode: body.mode };
      }
      case 'POST /__simulator/users': {
        const corp = corpOf();
        const users = validateUsers(json());
        corp.addUsers(users);
        return { added: users.length };
      }
      case 'POST /__simulator/oauth/codes': {
        const input = json();
        const body = typeof input === 'object' && input !== null ? (input as Json) : {};
        return { code: this.issueCodeFromControl(corpOf(body), body) };
      }
      case 'GET /__simulator/trusted-ips':
        return { trustedIps: this.trustedIps.get() };
      case 'PUT /__simulator/trusted-ips': {
        const body = json() as { trustedIps?: unknown };
        const list = body?.trustedIps;
        if (list !== null && !(Array.isArray(list) && list.every((e) => typeof e === 'string'))) {
          throw new ControlError(400, 'trustedIps must be an array of strings, or null');
        }
        this.setTrustedIps(list);
        return { trustedIps: this.trustedIps.get() };
      }
      case 'POST /__simulator/reset':
        this.reset();
        return { reset: true };
      case 'GET /__simulator/callback':
        return corpOf().callbackTarget();
      case 'POST /__simulator/callback': {
        const body = objectBody(json());
        const corp = corpOf(body);
        corp.setCallback({
          url: String(body.url ?? ''),
          token: String(body.token ?? ''),
          // `aesKey` as this route always took it; `encodingAesKey` as POST /__simulator/corps does.
          encodingAesKey: String(body.aesKey ?? body.encodingAesKey ?? ''),
        });
        return corp.callbackTarget();
      }
      case 'DELETE /__simulator/callback': {
        const corp = corpOf();
        corp.setCallback(null);
        return corp.callbackTarget();
      }
      case 'GET /__simulator/callbacks':
        return corpOf().callbackDeliveries();
      case 'POST /__simulator/cards/click': {
        const body = objectBody(json());
        const corp = corpOf(body);
        const { userid, msgid, key } = body;
        if (typeof userid !== 'string' || typeof msgid !== 'string' || typeof key !== 'string') {
          throw new ControlError(400, 'give userid, msgid and key (the button key) as strings');
        }
        try {
          corp.cardClickEvent(userid, msgid, key);
        } catch (error) {
          throw new ControlError(404, (error as Error).message);
        }
        return corp.clickCard(userid, msgid, key);
      }
    }
    const known = [
      '/__simulator/corps',
      '/__simulator/stats',
      '/__simulator/messages',
      '/__simulator/faults',
      '/__simulator/tokens/revoke',
      '/__simulator/tokens/mode',
      '/__simulator/users',
      '/__simulator/oauth/codes',
      '/__simulator/reset',
      '/__simulator/trusted-ips',
      '/__simulator/callback',
      '/__simulator/callbacks',
      '/__simulator/cards/click',
    ];
    if (known.includes(url.pathname.replace(/\/+$/, ''))) {
      throw new ControlError(405, `${method} is not allowed on ${url.pathname}`);
    }
    throw new ControlError(404, `no control endpoint ${url.pathname}`);
  }

  /** The corp named by ?corpId= or a body's corpId (they must agree), else the sandbox corp. */
  private controlCorp(fromQuery: string | null, fromBody: unknown): SimulatedCorp {
    if (fromBody !== undefined && typeof fromBody !== 'string') {
      throw new ControlError(400, 'corpId must be a string');
    }
    if (fromQuery !== null && fromBody !== undefined && fromQuery !== fromBody) {
      throw new ControlError(400, 'corpId in the query and in the body differ');
    }
    return this.corp(fromQuery ?? fromBody);
  }

  private async changeMember(
    userid: string,
    change: string,
    json: () => unknown,
    corpOf: (body?: Json) => SimulatedCorp,
  ): Promise<CallbackDelivery> {
    // A delete has no body: its corp comes from ?corpId= alone.
    const body = change === 'delete' ? undefined : objectBody(json());
    const corp = corpOf(body);
    if (!corp.hasMember(userid)) throw new ControlError(404, `unknown userid: ${userid}`);
    if (change === 'delete') return corp.deleteUser(userid);
    if (change === 'rename') {
      if (typeof body!.newUserid !== 'string') {
        throw new ControlError(400, 'newUserid must be a string');
      }
      return corp.renameUser(userid, body!.newUserid);
    }
    if (typeof body!.status !== 'number') throw new ControlError(400, 'status must be a number');
    return corp.setUserStatus(userid, body!.status);
  }

  private issueCodeFromControl(corp: SimulatedCorp, body: Json): string {
    const { userid, openid } = body;
    if (typeof userid === 'string' && userid.length > 0 && openid === undefined) {
      if (!corp.hasMember(userid)) throw new ControlError(400, `unknown userid: ${userid}`);
      return corp.issueOAuthCode(userid);
    }
    if (typeof openid === 'string' && openid.length > 0 && userid === undefined) {
      return corp.issueExternalOAuthCode(openid);
    }
    throw new ControlError(400, 'give exactly one of userid or openid (a non-empty string)');
  }
}

function objectBody(input: unknown): Json {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ControlError(400, 'body must be a JSON object');
  }
  return input as Json;
}

function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Aborted when the simulator stops. Every request in its latency sleep listens to it, one
 * listener each until the sleep ends, so the default warning at 11 listeners would fire under
 * any real load without a leak behind it.
 */
function shutdownController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
