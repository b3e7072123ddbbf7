import { randomBytes } from 'node:crypto';

/**
 * Error codes the simulator answers with. Where the public docs name no code for a case, the
 * choice is the closest documented one, so that a client's errcode table (wecom-api.md) files
 * it under the right action:
 * - malformed JSON, wrong field types, bad URLs, unknown/used/expired response_code, unknown
 *   msgid on recall, a reused task_id, a bad ticket type: 40058 (invalid argument), each with
 *   its own errmsg;
 * - required text field empty: 44004; any length or count limit exceeded: 45002;
 * - no touser/toparty/totag at all: 40035; more than 1000 userids: 40032 ("invalid userid
 *   list size"); more than 100 parties / tags: 82002 / 82003;
 * - recall of a message older than 24 h or already recalled: 40058 (no code is documented).
 */
export const ErrCode = {
  SystemBusy: -1,
  Ok: 0,
  InvalidSecret: 40001,
  InvalidMsgType: 40008,
  InvalidCorpId: 40013,
  InvalidToken: 40014,
  InvalidOAuthCode: 40029,
  UserIdListTooLong: 40032,
  InvalidParameter: 40035,
  InvalidArgument: 40058,
  MissingToken: 41001,
  MissingCorpId: 41002,
  MissingSecret: 41004,
  MissingAuthCode: 41008,
  MissingAgentId: 41011,
  TokenExpired: 42001,
  RequirePost: 43002,
  EmptyContent: 44004,
  ContentTooLong: 45002,
  UnknownUser: 46004,
  /** Also the answer for a member outside the app's visible range. */
  NoPrivilege: 60011,
  IpNotTrusted: 60020,
  UserIdNotFound: 60111,
  AllRecipientsInvalid: 81013,
  PartyListTooLong: 82002,
  TagListTooLong: 82003,
  AgentMismatch: 301002,
} as const;

const DEFAULT_TEXT: Record<number, string> = {
  [ErrCode.SystemBusy]: 'system busy',
  [ErrCode.InvalidSecret]: 'invalid credential',
  [ErrCode.InvalidMsgType]: 'invalid message type',
  [ErrCode.InvalidCorpId]: 'invalid corpid',
  [ErrCode.InvalidToken]: 'invalid access_token',
  [ErrCode.InvalidOAuthCode]: 'invalid code',
  [ErrCode.UserIdListTooLong]: 'invalid userid list size',
  [ErrCode.InvalidParameter]: 'invalid parameter',
  [ErrCode.InvalidArgument]: 'invalid argument',
  [ErrCode.MissingToken]: 'access_token missing',
  [ErrCode.MissingCorpId]: 'corpid missing',
  [ErrCode.MissingSecret]: 'corpsecret missing',
  [ErrCode.MissingAuthCode]: 'code missing',
  [ErrCode.MissingAgentId]: 'agentid missing',
  [ErrCode.TokenExpired]: 'access_token expired',
  [ErrCode.RequirePost]: 'require POST method',
  [ErrCode.EmptyContent]: 'empty content',
  [ErrCode.ContentTooLong]: 'content size out of limit',
  [ErrCode.UnknownUser]: 'user not found',
  [ErrCode.NoPrivilege]: 'no privilege to access/modify contact/party/agent',
  [ErrCode.IpNotTrusted]: 'not allow to access from your ip',
  [ErrCode.UserIdNotFound]: 'userid not found',
  [ErrCode.AllRecipientsInvalid]: 'user & party & tag all invalid',
  [ErrCode.PartyListTooLong]: 'invalid partyid list size',
  [ErrCode.TagListTooLong]: 'invalid tagid list size',
  [ErrCode.AgentMismatch]: "agentid not match the access_token's app",
};

/** An answer to a /cgi-bin call before it is rendered: errcode, optional detail, extra fields. */
export interface ApiReply {
  errcode: number;
  message?: string;
  fields?: Record<string, unknown>;
}

export function ok(fields?: Record<string, unknown>): ApiReply {
  return { errcode: ErrCode.Ok, fields };
}

export function fail(
  errcode: number,
  message?: string,
  fields?: Record<string, unknown>,
): ApiReply {
  return { errcode, message, fields };
}

/** The errmsg WeCom writes: text, a hint with a request id, the caller's IP and a help link. */
export function formatErrmsg(errcode: number, nowMs: number, ip: string, message?: string): string {
  if (errcode === ErrCode.Ok) return 'ok';
  const text = message ?? DEFAULT_TEXT[errcode] ?? 'error';
  const hint = `${Math.floor(nowMs / 1000)}_${randomBytes(6).toString('hex')}`;
  return `${text}, hint: [${hint}], from ip: ${ip}, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}`;
}

export function renderReply(reply: ApiReply, nowMs: number, ip: string): Record<string, unknown> {
  return {
    errcode: reply.errcode,
    errmsg: formatErrmsg(reply.errcode, nowMs, ip, reply.message),
    ...reply.fields,
  };
}
