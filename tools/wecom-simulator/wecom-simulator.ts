import { createHash, randomBytes } from 'node:crypto';
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
  CallbackPusher,
  CallbackTargetError,
  type CallbackDelivery,
  type CallbackField,
  type CallbackTarget,
} from './callback-pusher.js';
import {
  CredentialStore,
  externalUserIdFor,
  isTokenMode,
  TICKET_TTL_SECONDS,
  TOKEN_MODES,
  type TokenMode,
} from './credential-store.js';
import {
  FaultInjector,
  FaultValidationError,
  validateFault,
  type Fault,
  type FaultSpec,
} from './fault-injector.js';
import {
  DEFAULT_USERS,
  MemberDirectory,
  ROOT_DEPARTMENT,
  UserValidationError,
  validateUsers,
  type SimulatedUser,
} from './member-directory.js';
import { MessageLog, type DeliveredMessage } from './message-log.js';
import { parseSendRequest, parseUpdateCardRequest } from './message-validation.js';
import { TrustedIps, TrustedIpsError } from './trusted-ips.js';
import { ErrCode, fail, ok, renderReply, type ApiReply } from './wecom-errors.js';
import { CARD_TYPES_WITH_RESPONSE_CODE, WECOM_LIMITS } from '../../src/wecom/wecom-limits.js';

export { loadUsersFile, type SimulatedUser } from './member-directory.js';
export type { DeliveredMessage } from './message-log.js';
export type { Fault, FaultSpec } from './fault-injector.js';
export { TOKEN_MODES, isTokenMode, type TokenMode } from './credential-store.js';
export type { CallbackDelivery, CallbackTarget } from './callback-pusher.js';

export interface SimulatorOptions {
  corpId: string;
  corpSecret: string;
  agentId: number;
  tokenTtlSeconds: number;
  /** What a repeat gettoken returns while the last token is valid (see TokenMode). */
  tokenMode: TokenMode;
  /** Added to every /cgi-bin response (not to /__simulator). */
  latencyMs: number;
  perMemberPerMinute: number;
  perMemberPerHour: number;
  users: SimulatedUser[];
  /** Milliseconds clock for expiry, rate windows and recall; tests move it. */
  now: () => number;
  /** Trusted IPs (addresses / CIDRs): calls with a token from elsewhere get 60020. null: all. */
  trustedIps: string[] | null;
  /** Where events are pushed (settable later with setCallback or POST /__simulator/callback). */
  callback?: CallbackTarget;
  /** How long a callback may take to answer before it counts as lost (WeCom: about 5 s). */
  callbackTimeoutMs: number;
  /** Retries of an unanswered callback (WeCom: up to 3). */
  callbackRetries: number;
}

export interface SimulatorStats {
  calls: Record<string, number>;
  /** Per-member deliveries. */
  delivered: number;
  dropped: number;
  duplicatesSuppressed: number;
  /** text/markdown sends cut to 2048 bytes, as WeCom does instead of refusing them. */
  truncated: number;
  /** template_card fields their card type does not document, by path, with how often sent. */
  undocumentedFields: Record<string, number>;
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

/** The fields of a template_card_event, as WeCom would post them after a tap. */
export interface SimulatedCardClick {
  fromUser: string;
  eventKey: string;
  taskId: string;
  cardType: string;
  responseCode: string;
  agentId: number;
  /** Unix seconds. */
  createTime: number;
}

/** A tap pushed to the callback URL: the event's fields and what became of the push. */
export interface CardClickResult {
  click: SimulatedCardClick;
  delivery: CallbackDelivery;
}

const MAX_BODY_BYTES = 1024 * 1024;
/** Past this, an oversized upload is cut off instead of drained. */
const MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES;
/** Real bodies nest a few levels; a limit keeps recursive helpers off the stack's edge. */
const MAX_JSON_DEPTH = 32;
/** Bounds stats.calls when a caller probes random paths. */
const MAX_COUNTED_PATHS = 1000;

type Json = Record<string, unknown>;

interface ApiCall {
  query: URLSearchParams;
  body: Json;
  now: number;
}

interface Route {
  method: 'GET' | 'POST';
  authenticated: boolean;
  handle: (call: ApiCall) => ApiReply;
}

type BodyResult = { kind: 'ok'; body: Buffer } | { kind: 'too-large' } | { kind: 'aborted' };

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * An HTTP server that answers like qyapi.weixin.qq.com for the endpoints this service uses,
 * with a control API under /__simulator/ for tests, benchmarks and sandbox mode.
 */
export class WeComSimulator {
  private readonly options: SimulatorOptions;
  private readonly directory: MemberDirectory;
  private readonly credentials = new CredentialStore();
  private readonly log: MessageLog;
  private readonly faultInjector = new FaultInjector();
  private readonly trustedIps = new TrustedIps();
  private readonly calls = new Map<string, number>();
  private readonly routes: ReadonlyMap<string, Route>;
  private readonly pusher: CallbackPusher;
  private server?: Server;
  private baseUrl?: string;
  private shutdown = shutdownController();
  private tokenMode: TokenMode;

  constructor(options: Partial<SimulatorOptions> = {}) {
    const defined = Object.fromEntries(
      Object.entries(options).filter(([, value]) => value !== undefined),
    ) as Partial<SimulatorOptions>;
    this.options = { ...DEFAULT_OPTIONS, ...defined };
    this.checkOptions();
    this.tokenMode = this.options.tokenMode;
    this.options.users = validateUsers(this.options.users);
    this.directory = new MemberDirectory(this.options.users);
    this.log = new MessageLog(this.options.perMemberPerMinute, this.options.perMemberPerHour);
    this.routes = this.buildRoutes();
    this.trustedIps.set(this.options.trustedIps);
    this.pusher = new CallbackPusher({
      corpId: this.options.corpId,
      agentId: this.options.agentId,
      timeoutMs: this.options.callbackTimeoutMs,
      retries: this.options.callbackRetries,
      now: () => this.options.now(),
    });
    if (this.options.callback) this.pusher.setTarget(this.options.callback);
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('WeComSimulator is not started');
    return this.baseUrl;
  }

  get corpId(): string {
    return this.options.corpId;
  }

  get agentId(): number {
    return this.options.agentId;
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

  stats(): SimulatorStats {
    return {
      calls: Object.fromEntries(this.calls),
      ...this.log.counters,
      undocumentedFields: Object.fromEntries(this.log.undocumentedFields),
    };
  }

  messagesFor(userid: string): DeliveredMessage[] {
    return this.log.messagesFor(userid);
  }

  addUsers(users: SimulatedUser[]): void {
    this.directory.add(validateUsers(users));
  }

  issueOAuthCode(userid: string): string {
    const user = this.directory.get(userid);
    if (!user) throw new Error(`Unknown userid: ${userid}`);
    return this.credentials.issueOAuthCode({ userid: user.userid }, this.options.now());
  }

  /** A code for someone outside the corp: getuserinfo answers with openid and external_userid. */
  issueExternalOAuthCode(openid: string): string {
    if (openid.length === 0) throw new Error('openid must not be empty');
    return this.credentials.issueOAuthCode({ openid }, this.options.now());
  }

  revokeTokens(): void {
    this.credentials.revoke();
  }

  /** When WeCom ends this access token (ms by the simulator's clock); undefined if unknown. */
  tokenExpiry(token: string): number | undefined {
    return this.credentials.tokenExpiry(token);
  }

  /** Switches how gettoken answers repeat calls from now on (reset() restores the option). */
  setTokenMode(mode: TokenMode): void {
    if (!isTokenMode(mode))
      throw new RangeError(`tokenMode must be one of ${TOKEN_MODES.join(', ')}`);
    this.tokenMode = mode;
  }

  get currentTokenMode(): TokenMode {
    return this.tokenMode;
  }

  /** The admin resets the app's Secret in the WeCom console: only the new one gets tokens. */
  setCorpSecret(secret: string): void {
    if (secret.length === 0) throw new RangeError('corpSecret is empty');
    this.options.corpSecret = secret;
  }

  /** Every access token and jsapi ticket issued since start (or reset), revoked ones too. */
  issuedCredentials(): { accessTokens: string[]; jsapiTickets: string[] } {
    return this.credentials.issued();
  }

  /**
   * The fields of the template_card_event WeCom would send when a member taps a button of a
   * template card they received, with a fresh ResponseCode for that card (good once, 72 hours);
   * nothing is sent (clickCard sends it). Throws when the member never got that card or the
   * card has no such button.
   */
  cardClickEvent(userid: string, msgid: string, buttonKey: string): SimulatedCardClick {
    const message = this.log
      .messagesFor(userid)
      .find((m) => m.msgid === msgid && m.msgtype === 'template_card');
    if (!message) throw new Error(`${userid} did not receive template card ${msgid}`);
    const card = (message.body as { template_card?: Record<string, unknown> }).template_card ?? {};
    const buttons = Array.isArray(card.button_list)
      ? (card.button_list as { key?: unknown }[])
      : [];
    if (!buttons.some((b) => b.key === buttonKey)) {
      throw new Error(`template card ${msgid} has no button ${buttonKey}`);
    }
    const now = this.options.now();
    return {
      fromUser: userid,
      eventKey: buttonKey,
      taskId: typeof card.task_id === 'string' ? card.task_id : '',
      cardType: typeof card.card_type === 'string' ? card.card_type : '',
      responseCode: this.log.issueResponseCode(msgid, now),
      agentId: Number((message.body as { agentid?: unknown }).agentid),
      createTime: Math.floor(now / 1000),
    };
  }

  /**
   * The app's trusted IPs: API calls made with an access token from any other address are
   * refused with 60020 (gettoken is not). null or [] allows every address.
   */
  setTrustedIps(entries: string[] | null): void {
    this.trustedIps.set(entries);
  }

  /** A member taps a card button: the template_card_event goes to the callback URL over HTTP. */
  async clickCard(userid: string, msgid: string, buttonKey: string): Promise<CardClickResult> {
    const click = this.cardClickEvent(userid, msgid, buttonKey);
    const delivery = await this.push('template_card_event', [
      ['ToUserName', this.options.corpId],
      ['FromUserName', click.fromUser],
      ['CreateTime', click.createTime],
      ['MsgType', 'event'],
      ['Event', 'template_card_event'],
      ['EventKey', click.eventKey],
      ['TaskId', click.taskId],
      ['CardType', click.cardType],
      ['ResponseCode', click.responseCode],
      ['AgentID', click.agentId],
    ]);
    return { click, delivery };
  }

  /** Points the app's callback settings at a URL, with its Token and EncodingAESKey (or off). */
  setCallback(target: CallbackTarget | null): void {
    this.pusher.setTarget(target);
  }

  /** The events pushed lately (at most 200), oldest first, with every attempt. */
  callbackDeliveries(): CallbackDelivery[] {
    return this.pusher.deliveries();
  }

  /**
   * The member leaves the corp or an admin removes them: gone from the directory (sends list
   * them in invaliduser, user/get answers 60111), and change_contact/delete_user is pushed.
   */
  async deleteUser(userid: string): Promise<CallbackDelivery> {
    const user = this.directory.get(userid);
    if (!user || !this.directory.delete(userid)) {
      throw new UserValidationError(`unknown userid: ${userid}`);
    }
    return this.pushContactChange('delete_user', [['UserID', user.userid]]);
  }

  /** An admin changes the member's userid: change_contact/update_user with NewUserID. */
  async renameUser(userid: string, newUserid: string): Promise<CallbackDelivery> {
    const old = this.directory.get(userid)?.userid ?? userid;
    const renamed = this.directory.rename(userid, newUserid);
    return this.pushContactChange('update_user', [
      ['UserID', old],
      ['NewUserID', renamed.userid],
    ]);
  }

  /** The member is disabled (2), re-enabled (1), ...: change_contact/update_user with Status. */
  async setUserStatus(userid: string, status: number): Promise<CallbackDelivery> {
    const user = this.directory.setStatus(userid, status);
    return this.pushContactChange('update_user', [
      ['UserID', user.userid],
      ['Status', String(status)],
    ]);
  }

  private pushContactChange(
    changeType: string,
    fields: CallbackField[],
  ): Promise<CallbackDelivery> {
    return this.push(`change_contact/${changeType}`, [
      ['ToUserName', this.options.corpId],
      // WeCom marks contact events as system-generated.
      ['FromUserName', 'sys'],
      ['CreateTime', Math.floor(this.options.now() / 1000)],
      ['MsgType', 'event'],
      ['Event', 'change_contact'],
      ['ChangeType', changeType],
      ...fields,
    ]);
  }

  private push(event: string, fields: CallbackField[]): Promise<CallbackDelivery> {
    return this.pusher.push(event, fields, this.shutdown.signal);
  }

  addFault(fault: FaultSpec): Fault {
    return this.faultInjector.add(validateFault(fault));
  }

  faults(): Fault[] {
    return this.faultInjector.list();
  }

  clearFaults(): void {
    this.faultInjector.clear();
  }

  reset(): void {
    this.log.clear();
    this.calls.clear();
    this.faultInjector.clear();
    this.credentials.clear();
    this.tokenMode = this.options.tokenMode;
    this.directory.reset(this.options.users);
    // The callback target stays: it is the app's configuration, not the corp's state.
    this.pusher.clear();
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

    const fault = this.faultInjector.take(path);
    const delay = this.options.latencyMs + (fault?.delayMs ?? 0);
    if (delay > 0) {
      try {
        await sleep(delay, undefined, { signal: this.shutdown.signal });
      } catch {
        return; // stopped while waiting; the socket is gone
      }
    }
    const ip = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    if (fault?.httpStatus !== undefined) {
      this.sendText(res, fault.httpStatus, STATUS_CODES[fault.httpStatus] ?? 'Error');
      return;
    }
    const untrusted = this.routes.get(path)?.authenticated && !this.trustedIps.allows(ip);
    const reply =
      fault?.errcode !== undefined
        ? fail(fault.errcode)
        : untrusted
          ? fail(ErrCode.IpNotTrusted)
          : this.callApi(path, req.method ?? 'GET', url.searchParams, body.body);
    if (reply === undefined) {
      this.sendJson(res, 404, { errcode: -1, errmsg: `api not found: ${path}` });
      return;
    }
    this.sendJson(res, 200, renderReply(reply, this.options.now(), ip));
  }

  private callApi(
    path: string,
    method: string,
    query: URLSearchParams,
    raw: Buffer,
  ): ApiReply | undefined {
    const route = this.routes.get(path);
    if (!route) return undefined;
    if (route.method === 'POST' && method !== 'POST') return fail(ErrCode.RequirePost);
    const now = this.options.now();
    if (route.authenticated) {
      const token = query.get('access_token');
      if (!token) return fail(ErrCode.MissingToken);
      const check = this.credentials.checkToken(token, now);
      if (check === 'unknown') return fail(ErrCode.InvalidToken);
      if (check === 'expired') return fail(ErrCode.TokenExpired);
    }
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
    return route.handle({ query, body, now });
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

  // ---- WeCom API -----------------------------------------------------------------------------

  private buildRoutes(): Map<string, Route> {
    const get = (handle: Route['handle'], authenticated = true): Route => ({
      method: 'GET',
      authenticated,
      handle,
    });
    const post = (handle: Route['handle']): Route => ({
      method: 'POST',
      authenticated: true,
      handle,
    });
    return new Map<string, Route>([
      ['/cgi-bin/gettoken', get((call) => this.getToken(call), false)],
      ['/cgi-bin/message/send', post((call) => this.sendMessage(call))],
      ['/cgi-bin/message/recall', post((call) => this.recallMessage(call))],
      ['/cgi-bin/message/update_template_card', post((call) => this.updateTemplateCard(call))],
      ['/cgi-bin/user/get', get((call) => this.getUser(call))],
      ['/cgi-bin/user/getuserid', post((call) => this.getUserIdByMobile(call))],
      ['/cgi-bin/user/get_userid_by_email', post((call) => this.getUserIdByEmail(call))],
      ['/cgi-bin/auth/getuserinfo', get((call) => this.getUserInfo(call))],
      ['/cgi-bin/get_jsapi_ticket', get((call) => this.getTicket(call))],
      [
        '/cgi-bin/ticket/get',
        get((call) =>
          call.query.get('type') === 'agent_config'
            ? this.getTicket(call)
            : fail(ErrCode.InvalidArgument, 'invalid type, expected agent_config'),
        ),
      ],
    ]);
  }

  private getToken({ query, now }: ApiCall): ApiReply {
    const corpId = query.get('corpid');
    const secret = query.get('corpsecret');
    if (!corpId) return fail(ErrCode.MissingCorpId);
    if (!secret) return fail(ErrCode.MissingSecret);
    if (corpId !== this.options.corpId) return fail(ErrCode.InvalidCorpId);
    if (secret !== this.options.corpSecret) return fail(ErrCode.InvalidSecret);
    const { token, expiresIn } = this.credentials.issueToken(
      now,
      this.options.tokenTtlSeconds,
      this.tokenMode,
      secret,
    );
    return ok({ access_token: token, expires_in: expiresIn });
  }

  private sendMessage({ body, now }: ApiCall): ApiReply {
    const parsed = parseSendRequest(body, this.options.agentId);
    if (!parsed.ok) return fail(parsed.errcode, parsed.message);
    const request = parsed.value;

    let duplicateKey: string | undefined;
    if (request.duplicateCheckSeconds !== undefined) {
      duplicateKey = createHash('sha256').update(canonicalJson(body)).digest('base64url');
      const original = this.log.findDuplicate(duplicateKey, now);
      if (original) {
        this.log.counters.duplicatesSuppressed++;
        return ok(original);
      }
    }
    // WeCom documents no code for a reused task_id; 40058 (invalid argument) is the closest.
    if (request.taskId !== undefined && this.log.hasTaskId(request.taskId)) {
      return fail(ErrCode.InvalidArgument, 'invalid task_id, task_id already exists');
    }

    const recipients = this.directory.resolve(request.users, request.parties, request.tags);
    const listed = {
      invaliduser: recipients.invalidUsers.join('|'),
      invalidparty: recipients.invalidParties.join('|'),
      invalidtag: recipients.invalidTags.join('|'),
      unlicenseduser: recipients.unlicensed.join('|'),
    };
    if (recipients.members.length === 0)
      return fail(ErrCode.AllRecipientsInvalid, undefined, listed);

    this.log.countUndocumented(request.undocumentedFields);
    let delivered: Json = body;
    if (request.truncatedContent !== undefined) {
      const key = request.msgtype as 'text' | 'markdown';
      delivered = { ...body, [key]: { ...(body[key] as Json), content: request.truncatedContent } };
      this.log.counters.truncated++;
    }
    const msgid = this.log.deliver(request.msgtype, delivered, recipients.members, now);
    const reply: Json = { ...listed, msgid };
    // Only interactive cards can be updated later, so only they come back with a code.
    if (request.cardType && CARD_TYPES_WITH_RESPONSE_CODE.includes(request.cardType)) {
      reply.response_code = this.log.issueResponseCode(msgid, now);
    }
    if (request.taskId !== undefined) this.log.addTaskId(request.taskId);
    if (duplicateKey !== undefined) {
      this.log.rememberForDuplicateCheck(duplicateKey, reply, now, request.duplicateCheckSeconds!);
    }
    return ok(reply);
  }

  private recallMessage({ body, now }: ApiCall): ApiReply {
    if (typeof body.msgid !== 'string' || body.msgid.length === 0) {
      return fail(ErrCode.InvalidArgument, 'msgid missing');
    }
    // No codes are documented for these; 40058 (invalid argument) with distinct messages.
    switch (this.log.recall(body.msgid, now)) {
      case 'ok':
        return ok();
      case 'unknown':
        return fail(ErrCode.InvalidArgument, 'invalid msgid');
      case 'expired':
        return fail(ErrCode.InvalidArgument, 'msg can only be recalled within 24 hours');
      case 'already-recalled':
        return fail(ErrCode.InvalidArgument, 'msg has been recalled');
    }
  }

  private updateTemplateCard({ body, now }: ApiCall): ApiReply {
    const parsed = parseUpdateCardRequest(body, this.options.agentId);
    if (!parsed.ok) return fail(parsed.errcode, parsed.message);
    const outcome = this.log.consumeResponseCode(parsed.value.responseCode, now);
    switch (outcome.status) {
      case 'unknown':
        return fail(ErrCode.InvalidArgument, 'invalid response_code');
      case 'used':
        return fail(ErrCode.InvalidArgument, 'response_code has been used');
      case 'expired':
        return fail(ErrCode.InvalidArgument, 'response_code expired');
    }
    const requested = parsed.value.userids ?? [...outcome.recipients];
    const targets = requested.filter((id) => outcome.recipients.has(id));
    const invalid = requested.filter((id) => !outcome.recipients.has(id));
    this.log.recordCardUpdate(outcome.msgid, body, targets, now);
    return ok({ invaliduser: invalid });
  }

  private getUser({ query }: ApiCall): ApiReply {
    const userid = query.get('userid');
    const user = userid ? this.directory.get(userid) : undefined;
    if (!user) return fail(ErrCode.UserIdNotFound);
    if (user.inRange === false) return fail(ErrCode.NoPrivilege);
    return ok({
      userid: user.userid,
      name: user.name,
      department: [Number(ROOT_DEPARTMENT)],
      position: '',
      status: user.status ?? 1,
    });
  }

  // A missing mobile or email is a malformed request, not an unknown member: 40058.
  private getUserIdByMobile({ body }: ApiCall): ApiReply {
    if (typeof body.mobile !== 'string' || body.mobile.length === 0) {
      return fail(ErrCode.InvalidArgument, 'mobile missing');
    }
    const user = this.directory.findByMobile(body.mobile);
    return user ? ok({ userid: user.userid }) : fail(ErrCode.UnknownUser);
  }

  private getUserIdByEmail({ body }: ApiCall): ApiReply {
    if (typeof body.email !== 'string' || body.email.length === 0) {
      return fail(ErrCode.InvalidArgument, 'email missing');
    }
    if (body.email_type !== undefined && body.email_type !== 1 && body.email_type !== 2) {
      return fail(ErrCode.InvalidArgument, 'email_type must be 1 or 2');
    }
    const user = this.directory.findByEmail(body.email);
    return user ? ok({ userid: user.userid }) : fail(ErrCode.UnknownUser);
  }

  private getUserInfo({ query, now }: ApiCall): ApiReply {
    const code = query.get('code');
    if (!code) return fail(ErrCode.MissingAuthCode);
    const identity = this.credentials.redeemOAuthCode(code, now);
    if (!identity) return fail(ErrCode.InvalidOAuthCode);
    if ('openid' in identity) {
      return ok({ openid: identity.openid, external_userid: externalUserIdFor(identity.openid) });
    }
    // user_ticket feeds getuserdetail, which the simulator does not serve; any opaque value will do.
    return ok({ userid: identity.userid, user_ticket: randomBytes(48).toString('base64url') });
  }

  private getTicket({ now }: ApiCall): ApiReply {
    return ok({ ticket: this.credentials.issueTicket(now), expires_in: TICKET_TTL_SECONDS });
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
      this.sendJson(res, 200, result);
    } catch (error) {
      if (error instanceof ControlError) {
        this.sendJson(res, error.status, {
          error: STATUS_CODES[error.status],
          message: error.message,
        });
      } else if (
        error instanceof UserValidationError ||
        error instanceof FaultValidationError ||
        error instanceof TrustedIpsError ||
        error instanceof CallbackTargetError
      ) {
        this.sendJson(res, 400, { error: 'Bad Request', message: error.message });
      } else {
        throw error;
      }
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
    const member = /^POST \/__simulator\/users\/([^/]+)\/(delete|rename|status)$/.exec(route);
    if (member) return this.changeMember(decodeURIComponent(member[1]!), member[2]!, json);
    switch (route) {
      case 'GET /__simulator/stats':
        return this.stats();
      case 'GET /__simulator/messages': {
        const touser = url.searchParams.get('touser');
        if (!touser) throw new ControlError(400, 'touser query parameter is required');
        return this.messagesFor(touser);
      }
      case 'GET /__simulator/faults':
        return this.faults();
      case 'POST /__simulator/faults':
        return this.addFault(json() as FaultSpec);
      case 'DELETE /__simulator/faults':
        this.clearFaults();
        return { cleared: true };
      case 'POST /__simulator/tokens/revoke':
        this.revokeTokens();
        return { revoked: true };
      case 'GET /__simulator/tokens/mode':
        return { mode: this.tokenMode };
      case 'POST /__simulator/tokens/mode': {
        const { mode } = (json() ?? {}) as { mode?: unknown };
        if (!isTokenMode(mode)) {
          throw new ControlError(400, `mode must be one of ${TOKEN_MODES.join(', ')}`);
        }
        this.tokenMode = mode;
        return { mode };
      }
      case 'POST /__simulator/users': {
        const users = validateUsers(json());
        this.directory.add(users);
        return { added: users.length };
      }
      case 'POST /__simulator/oauth/codes':
        return { code: this.issueCodeFromControl(json()) };
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
        return this.pusher.describeTarget();
      case 'POST /__simulator/callback': {
        const body = objectBody(json());
        this.setCallback({
          url: String(body.url ?? ''),
          token: String(body.token ?? ''),
          encodingAesKey: String(body.aesKey ?? ''),
        });
        return this.pusher.describeTarget();
      }
      case 'DELETE /__simulator/callback':
        this.setCallback(null);
        return this.pusher.describeTarget();
      case 'GET /__simulator/callbacks':
        return this.callbackDeliveries();
      case 'POST /__simulator/cards/click': {
        const { userid, msgid, key } = objectBody(json());
        if (typeof userid !== 'string' || typeof msgid !== 'string' || typeof key !== 'string') {
          throw new ControlError(400, 'give userid, msgid and key (the button key) as strings');
        }
        try {
          this.cardClickEvent(userid, msgid, key);
        } catch (error) {
          throw new ControlError(404, (error as Error).message);
        }
        return this.clickCard(userid, msgid, key);
      }
    }
    const known = [
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

  private async changeMember(
    userid: string,
    change: string,
    json: () => unknown,
  ): Promise<CallbackDelivery> {
    if (!this.directory.get(userid)) throw new ControlError(404, `unknown userid: ${userid}`);
    if (change === 'delete') return this.deleteUser(userid);
    const body = objectBody(json());
    if (change === 'rename') {
      if (typeof body.newUserid !== 'string') {
        throw new ControlError(400, 'newUserid must be a string');
      }
      return this.renameUser(userid, body.newUserid);
    }
    if (typeof body.status !== 'number') throw new ControlError(400, 'status must be a number');
    return this.setUserStatus(userid, body.status);
  }

  private issueCodeFromControl(input: unknown): string {
    const body = (typeof input === 'object' && input !== null ? input : {}) as Json;
    const { userid, openid } = body;
    if (typeof userid === 'string' && userid.length > 0 && openid === undefined) {
      if (!this.directory.get(userid)) throw new ControlError(400, `unknown userid: ${userid}`);
      return this.issueOAuthCode(userid);
    }
    if (typeof openid === 'string' && openid.length > 0 && userid === undefined) {
      return this.issueExternalOAuthCode(openid);
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

/** JSON with object keys sorted, so that key order does not defeat the duplicate check. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Json;
    const keys = Object.keys(record).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
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
