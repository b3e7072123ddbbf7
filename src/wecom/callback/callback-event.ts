import { CallbackXmlError } from './callback-xml.js';

/** What the wecom_events row keeps of a decrypted callback, and how retries are recognised. */
export interface CallbackEventRecord {
  dedupeKey: string;
  msgType: string;
  event: string | null;
  fromUser: string;
  agentId: number | null;
  createTime: Date;
}

const CREATE_TIME = /^\d{1,12}$/;
const AGENT_ID = /^\d{1,9}$/;
const MAX_NAME = 64;

/**
 * Reads the fields every callback carries (ToUserName, FromUserName, CreateTime, MsgType) and
 * the dedupe key: MsgId when present (messages), else FromUserName|CreateTime|Event|EventKey|TaskId
 * (events have no MsgId; WeCom's retries repeat these fields exactly), and for change_contact
 * also ChangeType|UserID|NewUserID|Status|Id (the member or department that changed).
 */
export function readCallbackEvent(fields: Readonly<Record<string, string>>): CallbackEventRecord {
  const msgType = fields.MsgType?.trim();
  const fromUser = fields.FromUserName?.trim();
  const createTime = fields.CreateTime?.trim();
  if (!msgType || msgType.length > MAX_NAME) {
    throw new CallbackXmlError('Callback has no valid MsgType');
  }
  if (!fromUser) throw new CallbackXmlError('Callback has no FromUserName');
  if (!createTime || !CREATE_TIME.test(createTime)) {
    throw new CallbackXmlError('Callback has no valid CreateTime');
  }
  const event = fields.Event?.trim() || null;
  if (msgType === 'event' && !event) throw new CallbackXmlError('Event callback has no Event');
  const agent = fields.AgentID?.trim();
  const msgId = fields.MsgId?.trim();
  const parts = [
    fromUser,
    createTime,
    event ?? msgType,
    fields.EventKey ?? '',
    fields.TaskId ?? '',
  ];
  // Contact events all come from "sys" and carry no EventKey: two members removed in the same
  // second would otherwise share a key, and the second be dropped as a retry.
  if (event === 'change_contact') {
    parts.push(
      ...['ChangeType', 'UserID', 'NewUserID', 'Status', 'Id'].map((f) => fields[f] ?? ''),
    );
  }
  const dedupeKey = msgId ? `msg:${msgId}` : parts.join('|');
  if (dedupeKey.length > 1024) throw new CallbackXmlError('Callback fields are too long');
  return {
    dedupeKey,
    msgType,
    event,
    fromUser,
    agentId: agent && AGENT_ID.test(agent) ? Number(agent) : null,
    createTime: new Date(Number(createTime) * 1000),
  };
}
