/** Shapes of the WeCom API we use (shared/wecom-api.md). */
export interface WeComResponse {
  errcode: number;
  errmsg: string;
}

export interface GetTokenResponse extends WeComResponse {
  access_token: string;
  expires_in: number;
}

export interface TicketResponse extends WeComResponse {
  ticket: string;
  expires_in: number;
}

export type WeComMsgType = 'text' | 'markdown' | 'textcard' | 'news' | 'template_card';

export interface SendMessageRequest {
  touser?: string;
  toparty?: string;
  totag?: string;
  msgtype: WeComMsgType;
  agentid: number;
  safe?: 0 | 1 | 2;
  enable_id_trans?: 0 | 1;
  enable_duplicate_check?: 0 | 1;
  duplicate_check_interval?: number;
  [body: string]: unknown;
}

export interface SendMessageResponse extends WeComResponse {
  invaliduser?: string;
  invalidparty?: string;
  invalidtag?: string;
  unlicenseduser?: string;
  msgid?: string;
  response_code?: string;
}

export interface UpdateTemplateCardRequest {
  userids: string[];
  agentid: number;
  response_code: string;
  button?: { replace_name: string };
  [extra: string]: unknown;
}

export interface UserResponse extends WeComResponse {
  userid: string;
  name: string;
  status?: number;
  [field: string]: unknown;
}

export interface UserIdResponse extends WeComResponse {
  userid: string;
}

export interface UserInfoByCodeResponse extends WeComResponse {
  userid?: string;
  user_ticket?: string;
  openid?: string;
  external_userid?: string;
}

/** One HTTP attempt, as the message history records it. */
export interface WeComAttempt {
  path: string;
  startedAt: Date;
  latencyMs: number;
  errcode: number | null;
  errmsg: string;
  httpStatus?: number;
}
