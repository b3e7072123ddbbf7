import { createHash, randomBytes } from 'node:crypto';

import {
  CallbackPusher,
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
  type CredentialCheck,
  type TokenMode,
} from './credential-store.js';
import {
  MemberDirectory,
  ROOT_DEPARTMENT,
  UserValidationError,
  validateUsers,
  type SimulatedUser,
} from './member-directory.js';
import { MessageLog, type DeliveredMessage } from './message-log.js';
import { parseSendRequest, parseUpdateCardRequest } from './message-validation.js';
import { ErrCode, fail, ok, type ApiReply } from './wecom-errors.js';
import { CARD_TYPES_WITH_RESPONSE_CODE } from '../../src/wecom/wecom-limits.js';

type Json = Record<string, unknown>;

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

/** A corp (one company's WeCom, with the one app the service uses) to add to a simulator. */
export interface CorpSpec {
  corpId: string;
  corpSecret: string;
  agentId: number;
  /** Its directory; none when absent. */
  members?: SimulatedUser[];
  /** Where its app pushes events, with that app's Token and EncodingAESKey. */
  callback?: CallbackTarget;
}

/** A corp as the control API shows it: never its secret, nor its callback Token or key. */
export interface CorpDescription {
  corpId: string;
  agentId: number;
  members: number;
  callback: { url: string | null; configured: boolean };
}

/** What every corp of one simulator shares: its clock, token lifetime, limits and shutdown. */
export interface CorpEnvironment {
  now: () => number;
  tokenTtlSeconds: number;
  /** How gettoken answers repeats until setTokenMode, and again after reset(). */
  tokenMode: TokenMode;
  perMemberPerMinute: number;
  perMemberPerHour: number;
  callbackTimeoutMs: number;
  callbackRetries: number;
  /** Aborted when the simulator stops: callback pushes in flight give up. */
  shutdownSignal: () => AbortSignal;
}

/** One /cgi-bin call once its corp is known: the token checked, a POST body parsed. */
export interface ApiCall {
  query: URLSearchParams;
  body: Json;
  now: number;
}

export interface ApiRoute {
  method: 'GET' | 'POST';
  /** Needs an access_token, which names the corp; gettoken alone names it by corpid. */
  authenticated: boolean;
  handle: (corp: SimulatedCorp, call: ApiCall) => ApiReply;
}

export class CorpValidationError extends Error {}

const CORP_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Visible ASCII: the secret travels in a query string and is compared byte for byte. */
const CORP_SECRET_PATTERN = /^[\x21-\x7e]{1,128}$/;
const CORP_FIELDS = new Set(['corpId', 'corpSecret', 'agentId', 'members', 'callback']);
const CALLBACK_FIELDS = new Set(['url', 'token', 'encodingAesKey']);

/** Checks a corp from the control API; throws a one-line reason that never holds the secret. */
export function validateCorp(input: unknown): CorpSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new CorpValidationError('corp must be a JSON object');
  }
  const c = input as Json;
  const unknown = Object.keys(c).filter((key) => !CORP_FIELDS.has(key));
  if (unknown.length > 0) throw new CorpValidationError(`unknown field(s): ${unknown.join(', ')}`);
  if (typeof c.corpId !== 'string' || !CORP_ID_PATTERN.test(c.corpId)) {
    throw new CorpValidationError('corpId must be 1-64 characters of [A-Za-z0-9_.-]');
  }
  if (typeof c.corpSecret !== 'string' || !CORP_SECRET_PATTERN.test(c.corpSecret)) {
    throw new CorpValidationError('corpSecret must be 1-128 visible ASCII characters');
  }
  if (
    typeof c.agentId !== 'number' ||
    !Number.isInteger(c.agentId) ||
    c.agentId < 1 ||
    c.agentId > 2 ** 31 - 1
  ) {
    throw new CorpValidationError('agentId must be a positive 32-bit integer');
  }
  let members: SimulatedUser[] = [];
  if (c.members !== undefined) {
    try {
      members = validateUsers(c.members);
    } catch (error) {
      throw new CorpValidationError(`members: ${(error as Error).message}`);
    }
  }
  const spec: CorpSpec = {
    corpId: c.corpId,
    corpSecret: c.corpSecret,
    agentId: c.agentId,
    members,
  };
  if (c.callback !== undefined) {
    const cb = c.callback as Json;
    if (typeof cb !== 'object' || cb === null || Array.isArray(cb)) {
      throw new CorpValidationError('callback must be an object { url, token, encodingAesKey }');
    }
    const extra = Object.keys(cb).filter((key) => !CALLBACK_FIELDS.has(key));
    if (extra.length > 0) {
      throw new CorpValidationError(`callback: unknown field(s): ${extra.join(', ')}`);
    }
    // CallbackPusher.setTarget checks the values themselves when the corp is built.
    spec.callback = {
      url: String(cb.url ?? ''),
      token: String(cb.token ?? ''),
      encodingAesKey: String(cb.encodingAesKey ?? ''),
    };
  }
  return spec;
}

const get = (handle: ApiRoute['handle'], authenticated = true): ApiRoute => ({
  method: 'GET',
  authenticated,
  handle,
});
const post = (handle: ApiRoute['handle']): ApiRoute => ({
  method: 'POST',
  authenticated: true,
  handle,
});

/**
 * One corp of the simulated WeCom with its app: its secret and agent id, its members, tokens,
 * tickets and OAuth codes, what its members received (with the per-member rate windows, which
 * WeCom keeps per corp), and its callback target. Nothing here is reachable from another corp:
 * the simulator hands a call to the corp its access token was issued by.
 */
export class SimulatedCorp {
  /** The WeCom API paths, each answered by the corp the caller's token (or corpid) names. */
  static readonly api: ReadonlyMap<string, ApiRoute> = new Map<string, ApiRoute>([
    ['/cgi-bin/gettoken', get((corp, call) => corp.getToken(call), false)],
    ['/cgi-bin/message/send', post((corp, call) => corp.sendMessage(call))],
    ['/cgi-bin/message/recall', post((corp, call) => corp.recallMessage(call))],
    ['/cgi-bin/message/update_template_card', post((corp, call) => corp.updateTemplateCard(call))],
    ['/cgi-bin/user/get', get((corp, call) => corp.getUser(call))],
    ['/cgi-bin/user/getuserid', post((corp, call) => corp.getUserIdByMobile(call))],
    ['/cgi-bin/user/get_userid_by_email', post((corp, call) => corp.getUserIdByEmail(call))],
    ['/cgi-bin/auth/getuserinfo', get((corp, call) => corp.getUserInfo(call))],
    ['/cgi-bin/get_jsapi_ticket', get((corp, call) => corp.getTicket(call))],
    [
      '/cgi-bin/ticket/get',
      get((corp, call) =>
        call.query.get('type') === 'agent_config'
          ? corp.getTicket(call)
          : fail(ErrCode.InvalidArgument, 'invalid type, expected agent_config'),
      ),
    ],
  ]);

  readonly corpId: string;
  readonly agentId: number;
  private secret: string;
  /** The directory reset() goes back to. */
  private readonly initialMembers: readonly SimulatedUser[];
  private readonly directory: MemberDirectory;
  private readonly credentials = new CredentialStore();
  private readonly log: MessageLog;
  private readonly pusher: CallbackPusher;
  /** Calls per API path made on this corp (by its corpid or with one of its tokens). */
  private readonly calls = new Map<string, number>();
  private tokenMode: TokenMode;

  /** Throws CallbackTargetError or UserValidationError for a bad callback or member list. */
  constructor(
    spec: CorpSpec,
    private readonly env: CorpEnvironment,
  ) {
    this.corpId = spec.corpId;
    this.agentId = spec.agentId;
    this.secret = spec.corpSecret;
    this.initialMembers = validateUsers(spec.members ?? []);
    this.directory = new MemberDirectory(this.initialMembers);
    this.log = new MessageLog(env.perMemberPerMinute, env.perMemberPerHour);
    this.tokenMode = env.tokenMode;
    this.pusher = new CallbackPusher({
      corpId: this.corpId,
      agentId: this.agentId,
      timeoutMs: env.callbackTimeoutMs,
      retries: env.callbackRetries,
      now: () => env.now(),
    });
    if (spec.callback) this.pusher.setTarget(spec.callback);
  }

  describe(): CorpDescription {
    return {
      corpId: this.corpId,
      agentId: this.agentId,
      members: this.directory.size,
      callback: this.pusher.describeTarget(),
    };
  }

  /** This corp's calls, deliveries and drops. */
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

  hasMember(userid: string): boolean {
    return this.directory.get(userid) !== undefined;
  }

  issueOAuthCode(userid: string): string {
    const user = this.directory.get(userid);
    if (!user) throw new Error(`Unknown userid: ${userid}`);
    return this.credentials.issueOAuthCode({ userid: user.userid }, this.env.now());
  }

  /** A code for someone outside the corp: getuserinfo answers with openid and external_userid. */
  issueExternalOAuthCode(openid: string): string {
    if (openid.length === 0) throw new Error('openid must not be empty');
    return this.credentials.issueOAuthCode({ openid }, this.env.now());
  }

  /** Every token and ticket of this corp is now invalid (40014); other corps keep theirs. */
  revokeTokens(): void {
    this.credentials.revoke();
  }

  /** When WeCom ends this access token (ms by the simulator's clock); undefined if not ours. */
  tokenExpiry(token: string): number | undefined {
    return this.credentials.tokenExpiry(token);
  }

  checkToken(token: string, now: number): CredentialCheck {
    return this.credentials.checkToken(token, now);
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
    if (typeof secret !== 'string' || secret.length === 0) {
      throw new RangeError('corpSecret is empty');
    }
    this.secret = secret;
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
    const now = this.env.now();
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

  /** A member taps a card button: the template_card_event goes to the callback URL over HTTP. */
  async clickCard(userid: string, msgid: string, buttonKey: string): Promise<CardClickResult> {
    const click = this.cardClickEvent(userid, msgid, buttonKey);
    const delivery = await this.push('template_card_event', [
      ['ToUserName', this.corpId],
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

  /** The callback URL only: the Token and key are never read back. */
  callbackTarget(): { url: string | null; configured: boolean } {
    return this.pusher.describeTarget();
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

  /** Back to how it was created; the secret (as the console left it) and callback stay. */
  reset(): void {
    this.log.clear();
    this.calls.clear();
    this.credentials.clear();
    this.tokenMode = this.env.tokenMode;
    this.directory.reset(this.initialMembers);
    // The callback target stays: it is the app's configuration, not the corp's state.
    this.pusher.clear();
  }

  /** Counts a call made on this corp; paths are the few of `api`, so the map stays small. */
  countCall(path: string): void {
    this.calls.set(path, (this.calls.get(path) ?? 0) + 1);
  }

  private pushContactChange(
    changeType: string,
    fields: CallbackField[],
  ): Promise<CallbackDelivery> {
    return this.push(`change_contact/${changeType}`, [
      ['ToUserName', this.corpId],
      // WeCom marks contact events as system-generated.
      ['FromUserName', 'sys'],
      ['CreateTime', Math.floor(this.env.now() / 1000)],
      ['MsgType', 'event'],
      ['Event', 'change_contact'],
      ['ChangeType', changeType],
      ...fields,
    ]);
  }

  private push(event: string, fields: CallbackField[]): Promise<CallbackDelivery> {
    return this.pusher.push(event, fields, this.env.shutdownSignal());
  }

  // ---- WeCom API, the caller's corp already found ---------------------------------------------

  /** The corpid named this corp; the secret decides. */
  private getToken({ query, now }: ApiCall): ApiReply {
    const secret = query.get('corpsecret');
    if (secret !== this.secret) return fail(ErrCode.InvalidSecret);
    const { token, expiresIn } = this.credentials.issueToken(
      now,
      this.env.tokenTtlSeconds,
      this.tokenMode,
      secret,
    );
    return ok({ access_token: token, expires_in: expiresIn });
  }

  private sendMessage({ body, now }: ApiCall): ApiReply {
    const parsed = parseSendRequest(body, this.agentId);
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
    const parsed = parseUpdateCardRequest(body, this.agentId);
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
