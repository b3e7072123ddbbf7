import {
  CARD_TYPES,
  isCardType,
  TASK_ID_PATTERN,
  undocumentedCardFields,
  WECOM_LIMITS as L,
  truncateUtf8,
  type CardType,
} from '../../src/wecom/wecom-limits.js';
import { ErrCode } from './wecom-errors.js';

export const MESSAGE_TYPES = ['text', 'markdown', 'textcard', 'news', 'template_card'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export interface SendRequest {
  msgtype: MessageType;
  /** Lower-cased and de-duplicated; may contain '@all'. */
  users: string[];
  parties: string[];
  tags: string[];
  taskId?: string;
  /** Seconds, when enable_duplicate_check is 1. */
  duplicateCheckSeconds?: number;
  cardType?: CardType;
  /** text or markdown content cut to WeCom's limit, when the sent one was longer. */
  truncatedContent?: string;
  /** Fields of a template_card that its card type does not document (see wecom-limits.ts). */
  undocumentedFields: string[];
}

export interface UpdateCardRequest {
  responseCode: string;
  /** Lower-cased; undefined means every recipient of the card. */
  userids?: string[];
}

export type Validation<T> =
  { ok: true; value: T } | { ok: false; errcode: number; message: string };

/** Thrown inside the validators and turned into a Validation at the edge. */
class Invalid extends Error {
  constructor(
    readonly errcode: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_USERS = L.touserMax;
const MAX_PARTIES_OR_TAGS = L.partiesOrTagsMax;
const MAX_DUPLICATE_CHECK_SECONDS = L.duplicateCheckMaxSeconds;
const DEFAULT_DUPLICATE_CHECK_SECONDS = L.duplicateCheckDefaultSeconds;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
// WeCom counts "characters" for card fields; code points are the closest match.
const chars = (s: string): number => [...s].length;

function object(parent: Json, key: string, where = key): Json {
  const value = parent[key];
  if (!isObject(value)) throw new Invalid(ErrCode.InvalidArgument, `${where} must be an object`);
  return value;
}

function optionalString(parent: Json, key: string, where: string): string | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new Invalid(ErrCode.InvalidArgument, `${where} must be a string`);
  }
  return value;
}

function requiredText(parent: Json, key: string, where: string): string {
  const value = optionalString(parent, key, where);
  if (value === undefined || value.length === 0) {
    throw new Invalid(ErrCode.EmptyContent, `${where} is empty`);
  }
  return value;
}

function limit(
  value: string | undefined,
  max: number,
  unit: 'bytes' | 'chars',
  where: string,
): void {
  if (value === undefined) return;
  const size = unit === 'bytes' ? bytes(value) : chars(value);
  if (size > max) {
    throw new Invalid(ErrCode.ContentTooLong, `${where} exceeds ${max} ${unit}`);
  }
}

function url(parent: Json, key: string, where: string, required: boolean): void {
  const value = optionalString(parent, key, where);
  if (value === undefined || value.length === 0) {
    if (required) throw new Invalid(ErrCode.InvalidArgument, `${where} is missing`);
    return;
  }
  limit(value, L.urlBytes, 'bytes', where);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new Invalid(ErrCode.InvalidArgument, `${where} is not a valid url`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Invalid(ErrCode.InvalidArgument, `${where} must be http or https`);
  }
}

function list(parent: Json, key: string, where: string, max: number): unknown[] {
  const value = parent[key];
  if (value === undefined) return [];
  if (!Array.isArray(value))
    throw new Invalid(ErrCode.InvalidArgument, `${where} must be an array`);
  if (value.length > max) {
    throw new Invalid(ErrCode.ContentTooLong, `${where} has more than ${max} items`);
  }
  return value;
}

function ids(body: Json, key: string, max: number, tooMany: number, lowerCase: boolean): string[] {
  const value = body[key];
  if (value === undefined || value === null) return [];
  // WeCom accepts numeric party/tag ids as numbers too.
  if (typeof value !== 'string' && !(typeof value === 'number' && key !== 'touser')) {
    throw new Invalid(ErrCode.InvalidArgument, `${key} must be a string`);
  }
  const raw = String(value)
    .split('|')
    .map((id) => id.trim())
    .filter((id) => id.length > 0);
  if (raw.length > max) throw new Invalid(tooMany, `${key} has more than ${max} ids`);
  return [...new Set(lowerCase ? raw.map((id) => id.toLowerCase()) : raw)];
}

function checkAgent(body: Json, agentId: number): void {
  if (body.agentid === undefined || body.agentid === null) {
    throw new Invalid(ErrCode.MissingAgentId, 'agentid missing');
  }
  if (typeof body.agentid !== 'number' || !Number.isInteger(body.agentid)) {
    throw new Invalid(ErrCode.InvalidArgument, 'agentid must be an integer');
  }
  if (body.agentid !== agentId) {
    throw new Invalid(ErrCode.AgentMismatch, "agentid not match the access_token's app");
  }
}

function flag(body: Json, key: string, allowed: readonly number[]): number | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!allowed.includes(value as number)) {
    throw new Invalid(ErrCode.InvalidArgument, `${key} must be one of ${allowed.join(', ')}`);
  }
  return value as number;
}

/** WeCom documents truncation ("超过将截断") for over-long content, not an error. */
function validateText(body: Json, key: 'text' | 'markdown'): string | undefined {
  const content = requiredText(object(body, key), 'content', `${key}.content`);
  return bytes(content) > L.contentBytes ? truncateUtf8(content, L.contentBytes) : undefined;
}

function validateTextCard(body: Json): void {
  const card = object(body, 'textcard');
  limit(
    requiredText(card, 'title', 'textcard.title'),
    L.textcardTitleBytes,
    'bytes',
    'textcard.title',
  );
  const description = requiredText(card, 'description', 'textcard.description');
  limit(description, L.textcardDescriptionBytes, 'bytes', 'textcard.description');
  url(card, 'url', 'textcard.url', true);
  const btntxt = optionalString(card, 'btntxt', 'textcard.btntxt');
  limit(btntxt, L.textcardButtonChars, 'chars', 'textcard.btntxt');
}

function validateNews(body: Json): void {
  const news = object(body, 'news');
  const articles = list(news, 'articles', 'news.articles', L.newsArticlesMax);
  if (articles.length === 0) throw new Invalid(ErrCode.InvalidArgument, 'news.articles is empty');
  articles.forEach((raw, i) => {
    const where = `news.articles[${i}]`;
    if (!isObject(raw)) throw new Invalid(ErrCode.InvalidArgument, `${where} must be an object`);
    const title = requiredText(raw, 'title', `${where}.title`);
    limit(title, L.newsTitleBytes, 'bytes', `${where}.title`);
    const description = optionalString(raw, 'description', `${where}.description`);
    limit(description, L.newsDescriptionBytes, 'bytes', where);
    url(raw, 'url', `${where}.url`, true);
    url(raw, 'picurl', `${where}.picurl`, false);
  });
}

interface CardCheck {
  cardType: CardType;
  taskId?: string;
}

/**
 * Validates a template_card object. Shared with update_template_card. text_notice and
 * button_interaction are checked field by field; the other documented types (which this
 * service does not send) only for their task_id.
 */
function validateTemplateCard(card: Json): CardCheck {
  const cardType = card.card_type;
  if (!isCardType(cardType)) {
    throw new Invalid(
      ErrCode.InvalidArgument,
      `template_card.card_type must be one of ${CARD_TYPES.join(', ')}`,
    );
  }
  if (cardType !== 'text_notice' && cardType !== 'button_interaction') {
    if (cardType !== 'news_notice' && card.task_id === undefined) {
      throw new Invalid(ErrCode.InvalidArgument, 'template_card.task_id is required');
    }
    return { cardType, taskId: checkTaskId(card) };
  }
  const mainTitle = object(card, 'main_title', 'template_card.main_title');
  const title = optionalString(mainTitle, 'title', 'template_card.main_title.title');
  limit(title, L.cardMainTitleChars, 'chars', 'template_card.main_title.title');
  const desc = optionalString(mainTitle, 'desc', 'template_card.main_title.desc');
  limit(desc, L.cardMainDescChars, 'chars', 'template_card.main_title.desc');
  const subTitle = optionalString(card, 'sub_title_text', 'template_card.sub_title_text');
  limit(subTitle, L.cardSubTitleChars, 'chars', 'template_card.sub_title_text');
  if (!title && !subTitle) {
    throw new Invalid(
      ErrCode.EmptyContent,
      'template_card needs main_title.title or sub_title_text',
    );
  }
  list(
    card,
    'horizontal_content_list',
    'template_card.horizontal_content_list',
    L.cardHorizontalMax,
  ).forEach((raw, i) => {
    const where = `template_card.horizontal_content_list[${i}]`;
    if (!isObject(raw)) throw new Invalid(ErrCode.InvalidArgument, `${where} must be an object`);
    requiredText(raw, 'keyname', `${where}.keyname`);
  });
  list(card, 'jump_list', 'template_card.jump_list', L.cardJumpListMax).forEach((raw, i) => {
    const where = `template_card.jump_list[${i}]`;
    if (!isObject(raw)) throw new Invalid(ErrCode.InvalidArgument, `${where} must be an object`);
    requiredText(raw, 'title', `${where}.title`);
  });

  if (cardType === 'text_notice') {
    const action = object(card, 'card_action', 'template_card.card_action');
    if (action.type === 1) url(action, 'url', 'template_card.card_action.url', true);
    else if (action.type === 2) requiredText(action, 'appid', 'template_card.card_action.appid');
    else
      throw new Invalid(ErrCode.InvalidArgument, 'template_card.card_action.type must be 1 or 2');
  } else {
    const buttons = list(card, 'button_list', 'template_card.button_list', L.cardButtonsMax);
    if (buttons.length === 0) {
      throw new Invalid(ErrCode.InvalidArgument, 'template_card.button_list is empty');
    }
    const keys = new Set<string>();
    buttons.forEach((raw, i) => {
      const where = `template_card.button_list[${i}]`;
      if (!isObject(raw)) throw new Invalid(ErrCode.InvalidArgument, `${where} must be an object`);
      requiredText(raw, 'text', `${where}.text`);
      flag(raw, 'style', [1, 2, 3, 4]);
      if (raw.type === 1) url(raw, 'url', `${where}.url`, true);
      else {
        const key = requiredText(raw, 'key', `${where}.key`);
        limit(key, L.cardButtonKeyBytes, 'bytes', `${where}.key`);
        // Undocumented by WeCom; a tap could not tell two buttons with one key apart.
        if (keys.has(key)) throw new Invalid(ErrCode.InvalidArgument, `${where}.key is repeated`);
        keys.add(key);
      }
    });
    if (card.task_id === undefined) {
      throw new Invalid(ErrCode.InvalidArgument, 'template_card.task_id is required');
    }
  }

  return { cardType, taskId: checkTaskId(card) };
}

function checkTaskId(card: Json): string | undefined {
  const taskId = optionalString(card, 'task_id', 'template_card.task_id');
  if (taskId === undefined) return undefined;
  limit(taskId, L.taskIdBytes, 'bytes', 'template_card.task_id');
  if (!TASK_ID_PATTERN.test(taskId)) {
    throw new Invalid(ErrCode.InvalidArgument, 'template_card.task_id has invalid characters');
  }
  return taskId;
}

function run<T>(fn: () => T): Validation<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    if (error instanceof Invalid)
      return { ok: false, errcode: error.errcode, message: error.message };
    throw error;
  }
}

/** Checks a message/send body in the order WeCom appears to: app, type, recipients, content. */
export function parseSendRequest(body: unknown, agentId: number): Validation<SendRequest> {
  return run(() => {
    if (!isObject(body)) throw new Invalid(ErrCode.InvalidArgument, 'body must be a JSON object');
    checkAgent(body, agentId);
    const msgtype = body.msgtype;
    if (typeof msgtype !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(msgtype)) {
      throw new Invalid(ErrCode.InvalidMsgType, 'invalid message type');
    }
    const users = ids(body, 'touser', MAX_USERS, ErrCode.UserIdListTooLong, true);
    const parties = ids(body, 'toparty', MAX_PARTIES_OR_TAGS, ErrCode.PartyListTooLong, false);
    const tags = ids(body, 'totag', MAX_PARTIES_OR_TAGS, ErrCode.TagListTooLong, false);
    if (users.length + parties.length + tags.length === 0) {
      throw new Invalid(ErrCode.InvalidParameter, 'touser, toparty and totag are all empty');
    }
    flag(body, 'safe', [0, 1, 2]);
    flag(body, 'enable_id_trans', [0, 1]);
    const duplicateCheck = flag(body, 'enable_duplicate_check', [0, 1]);
    let duplicateCheckSeconds: number | undefined;
    if (duplicateCheck === 1) {
      const interval = body.duplicate_check_interval ?? DEFAULT_DUPLICATE_CHECK_SECONDS;
      if (
        typeof interval !== 'number' ||
        !Number.isInteger(interval) ||
        interval < 1 ||
        interval > MAX_DUPLICATE_CHECK_SECONDS
      ) {
        throw new Invalid(
          ErrCode.InvalidArgument,
          `duplicate_check_interval must be an integer of 1-${MAX_DUPLICATE_CHECK_SECONDS}`,
        );
      }
      duplicateCheckSeconds = interval;
    }

    let taskId: string | undefined;
    let cardType: CardType | undefined;
    let truncatedContent: string | undefined;
    let undocumentedFields: string[] = [];
    switch (msgtype as MessageType) {
      case 'text':
      case 'markdown':
        truncatedContent = validateText(body, msgtype as 'text' | 'markdown');
        break;
      case 'textcard':
        validateTextCard(body);
        break;
      case 'news':
        validateNews(body);
        break;
      case 'template_card': {
        const card = object(body, 'template_card');
        ({ cardType, taskId } = validateTemplateCard(card));
        undocumentedFields = undocumentedCardFields(card);
        break;
      }
    }
    return {
      msgtype: msgtype as MessageType,
      users,
      parties,
      tags,
      taskId,
      duplicateCheckSeconds,
      cardType,
      truncatedContent,
      undocumentedFields,
    };
  });
}

export function parseUpdateCardRequest(
  body: unknown,
  agentId: number,
): Validation<UpdateCardRequest> {
  return run(() => {
    if (!isObject(body)) throw new Invalid(ErrCode.InvalidArgument, 'body must be a JSON object');
    checkAgent(body, agentId);
    const responseCode = body.response_code;
    if (typeof responseCode !== 'string' || responseCode.length === 0) {
      throw new Invalid(ErrCode.InvalidArgument, 'response_code missing');
    }
    if (body.button !== undefined) {
      const button = object(body, 'button');
      limit(
        requiredText(button, 'replace_name', 'button.replace_name'),
        L.cardReplaceNameChars,
        'chars',
        'button.replace_name',
      );
    } else if (body.template_card !== undefined) {
      validateTemplateCard(object(body, 'template_card'));
    } else {
      throw new Invalid(ErrCode.InvalidArgument, 'button or template_card is required');
    }
    let userids: string[] | undefined;
    if (body.userids !== undefined && body.atall !== 1) {
      if (!Array.isArray(body.userids) || body.userids.some((id) => typeof id !== 'string')) {
        throw new Invalid(ErrCode.InvalidArgument, 'userids must be an array of strings');
      }
      if (body.userids.length > MAX_USERS) {
        throw new Invalid(ErrCode.UserIdListTooLong, `userids has more than ${MAX_USERS} ids`);
      }
      userids = [...new Set((body.userids as string[]).map((id) => id.toLowerCase()))];
    }
    return { responseCode, userids };
  });
}
