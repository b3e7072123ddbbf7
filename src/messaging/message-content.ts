import { WECOM_ID, WECOM_ID_RULE } from '../user-mappings/dto/user-mapping.dto.js';
import type { WeComMsgType } from '../wecom/client/wecom.types.js';
import {
  CARD_FIELDS,
  CARD_NESTED_FIELDS,
  TASK_ID_PATTERN,
  WECOM_LIMITS as L,
} from '../wecom/wecom-limits.js';

export const MSG_TYPES: WeComMsgType[] = ['text', 'markdown', 'textcard', 'news', 'template_card'];

/** A message body that WeCom would refuse; `problems` name each field and why. */
export class MessageContentError extends Error {
  override name = 'MessageContentError';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const chars = (s: string) => [...s].length;
const isHttpUrl = (s: unknown) =>
  typeof s === 'string' && /^https?:\/\/[^\s]+$/i.test(s) && bytes(s) <= L.urlBytes;
const isTaskId = (s: unknown) =>
  typeof s === 'string' && TASK_ID_PATTERN.test(s) && bytes(s) <= L.taskIdBytes;

type Check = (path: string, value: unknown) => string | undefined;

const str =
  (limit?: { bytes?: number; chars?: number }, required = true): Check =>
  (path, value) => {
    if (value === undefined || value === null) return required ? `${path} is required` : undefined;
    if (typeof value !== 'string') return `${path} must be a string`;
    if (required && value.trim() === '') return `${path} must not be empty`;
    if (limit?.bytes && bytes(value) > limit.bytes)
      return `${path} is ${bytes(value)} bytes; WeCom allows at most ${limit.bytes} (UTF-8)`;
    if (limit?.chars && chars(value) > limit.chars)
      return `${path} is ${chars(value)} characters; WeCom allows at most ${limit.chars}`;
    return undefined;
  };

function object(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The fields WeCom documents for each object of a body we send. Anything else is refused: the
 * body is spread into message/send next to `touser`, so an extra `text.touser` or `safe` must
 * never reach WeCom (it would address other people, or change how the message is sent).
 */
const FIELDS = {
  text: ['content'],
  markdown: ['content'],
  textcard: ['title', 'description', 'url', 'btntxt'],
  news: ['articles'],
  article: ['title', 'description', 'url', 'picurl'],
  // A template_card's fields depend on its card_type: CARD_FIELDS and CARD_NESTED_FIELDS.
} satisfies Record<string, readonly string[]>;

/** A problem for each key of `value` (an object at `path`) that `fields` does not list. */
function unknownKeys(
  path: string,
  value: Record<string, unknown>,
  fields: readonly string[],
): string[] {
  return Object.keys(value)
    .filter((key) => !fields.includes(key))
    .map(
      (key) =>
        `${path}.${printable(key)} is not a field of ${path} (allowed: ${fields.join(', ')})`,
    );
}

/** A key as it may be quoted back: at most 64 characters, control characters escaped. */
function printable(key: string): string {
  const shown = JSON.stringify(key.slice(0, 64));
  return /^[A-Za-z0-9_]+$/.test(key) ? key : shown;
}

/**
 * Problems with the keys of the object at `parent[name]`, or of each object in it when it is a
 * list. Its type (required, object or list) is checked where it is used.
 */
function keysOf(
  parent: unknown,
  path: string,
  name: string,
  fields: readonly string[],
  problems: string[],
): void {
  if (!object(parent)) return;
  const value = parent[name];
  if (object(value)) problems.push(...unknownKeys(`${path}.${name}`, value, fields));
  else if (Array.isArray(value))
    value.forEach((item, i) => {
      if (object(item)) problems.push(...unknownKeys(`${path}.${name}[${i}]`, item, fields));
    });
}

/** Optional fields that must be objects when given. */
function objects(parent: Record<string, unknown>, path: string, names: string[]): string[] {
  return names
    .filter((n) => parent[n] !== undefined && !object(parent[n]))
    .map((n) => `${path}.${n} must be an object`);
}

/**
 * Checks a message body against WeCom's limits (shared/wecom-api.md) before it is queued, so a
 * too-long text is a 400 at our API and not a failed delivery later. Returns the problems.
 */
export function checkContent(msgtype: WeComMsgType, content: unknown): string[] {
  const problems: string[] = [];
  const push = (p: string | undefined) => p && problems.push(p);
  if (!MSG_TYPES.includes(msgtype)) return [`msgtype must be one of ${MSG_TYPES.join(', ')}`];
  if (!object(content)) return [`${msgtype} must be an object`];
  const c = content;
  if (msgtype !== 'template_card') problems.push(...unknownKeys(msgtype, c, FIELDS[msgtype]));
  switch (msgtype) {
    case 'text':
    case 'markdown':
      push(str({ bytes: L.contentBytes })(`${msgtype}.content`, c.content));
      break;
    case 'textcard':
      push(str({ bytes: L.textcardTitleBytes })('textcard.title', c.title));
      push(str({ bytes: L.textcardDescriptionBytes })('textcard.description', c.description));
      if (!isHttpUrl(c.url))
        problems.push('textcard.url must be an http(s) URL of at most 2048 bytes');
      push(str({ chars: L.textcardButtonChars }, false)('textcard.btntxt', c.btntxt));
      break;
    case 'news': {
      const articles = c.articles;
      if (!Array.isArray(articles) || articles.length < 1 || articles.length > L.newsArticlesMax) {
        problems.push('news.articles must hold 1 to 8 articles');
        break;
      }
      articles.forEach((a, i) => {
        if (!object(a)) return problems.push(`news.articles[${i}] must be an object`);
        problems.push(...unknownKeys(`news.articles[${i}]`, a, FIELDS.article));
        push(str({ bytes: L.newsTitleBytes })(`news.articles[${i}].title`, a.title));
        push(
          str({ bytes: L.newsDescriptionBytes }, false)(
            `news.articles[${i}].description`,
            a.description,
          ),
        );
        if (!isHttpUrl(a.url)) problems.push(`news.articles[${i}].url must be an http(s) URL`);
        if (a.picurl !== undefined && !isHttpUrl(a.picurl))
          problems.push(`news.articles[${i}].picurl must be an http(s) URL`);
      });
      break;
    }
    case 'template_card':
      checkTemplateCard(c, problems);
      break;
  }
  return problems;
}

function checkTemplateCard(c: Record<string, unknown>, problems: string[]): void {
  const push = (p: string | undefined) => p && problems.push(p);
  const type = c.card_type;
  if (type !== 'text_notice' && type !== 'button_interaction') {
    problems.push('template_card.card_type must be text_notice or button_interaction');
    return;
  }
  const undocumented = Object.keys(c).filter((key) => !CARD_FIELDS[type].includes(key));
  if (undocumented.length > 0)
    problems.push(`template_card of type ${type} has no field ${undocumented.join(', ')}`);
  const t = 'template_card';
  const optionalObjects = ['source', 'action_menu', 'quote_area', 'emphasis_content'];
  problems.push(...objects(c, t, [...optionalObjects, 'button_selection']));
  for (const [name, fields] of Object.entries(CARD_NESTED_FIELDS)) {
    const [outer, inner] = name.split('.');
    if (inner) keysOf(c[outer], `${t}.${outer}`, inner, fields, problems);
    else keysOf(c, t, outer, fields, problems);
  }
  if (!object(c.main_title)) problems.push('template_card.main_title is required');
  else {
    push(
      str({ chars: L.cardMainTitleChars })('template_card.main_title.title', c.main_title.title),
    );
    push(
      str({ chars: L.cardMainDescChars }, false)(
        'template_card.main_title.desc',
        c.main_title.desc,
      ),
    );
  }
  push(
    str({ chars: L.cardSubTitleChars }, false)('template_card.sub_title_text', c.sub_title_text),
  );
  if (c.horizontal_content_list !== undefined) {
    const list = c.horizontal_content_list;
    if (!Array.isArray(list) || list.length > L.cardHorizontalMax)
      problems.push('template_card.horizontal_content_list holds at most 6 items');
    else
      list.forEach((item, i) => {
        if (!object(item))
          return problems.push(`template_card.horizontal_content_list[${i}] must be an object`);
        push(
          str({ chars: L.cardHorizontalKeyChars })(
            `template_card.horizontal_content_list[${i}].keyname`,
            item.keyname,
          ),
        );
        push(
          str({ chars: L.cardHorizontalValueChars }, false)(
            `template_card.horizontal_content_list[${i}].value`,
            item.value,
          ),
        );
        if (
          item.userid !== undefined &&
          !(typeof item.userid === 'string' && WECOM_ID.test(item.userid))
        )
          problems.push(
            `template_card.horizontal_content_list[${i}].userid must be ${WECOM_ID_RULE}`,
          );
      });
  }
  if (
    c.jump_list !== undefined &&
    (!Array.isArray(c.jump_list) || c.jump_list.length > L.cardJumpListMax)
  )
    problems.push('template_card.jump_list holds at most 3 items');
  if (c.task_id !== undefined && !isTaskId(c.task_id))
    problems.push('template_card.task_id must be 1-128 characters of 0-9 A-Z a-z _ - @');
  if (type === 'text_notice') {
    if (!object(c.card_action) || (c.card_action.type === 1 && !isHttpUrl(c.card_action.url)))
      problems.push('template_card.card_action with an http(s) url is required for text_notice');
  } else {
    const buttons = c.button_list;
    if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > L.cardButtonsMax)
      problems.push('template_card.button_list must hold 1 to 6 buttons');
    else
      buttons.forEach((b, i) => {
        if (!object(b)) return problems.push(`template_card.button_list[${i}] must be an object`);
        push(str({ chars: L.cardButtonTextChars })(`template_card.button_list[${i}].text`, b.text));
        if (b.style !== undefined && ![1, 2, 3, 4].includes(b.style as number))
          problems.push(`template_card.button_list[${i}].style must be 1 to 4`);
        if (b.type === 1) {
          if (!isHttpUrl(b.url))
            problems.push(`template_card.button_list[${i}].url must be an http(s) URL`);
        } else
          push(str({ bytes: L.cardButtonKeyBytes })(`template_card.button_list[${i}].key`, b.key));
      });
    const keys = Array.isArray(buttons)
      ? buttons.flatMap((b: unknown) => (object(b) && typeof b.key === 'string' ? [b.key] : []))
      : [];
    // A tap reports only the key: two buttons with one key could not be told apart.
    if (new Set(keys).size < keys.length)
      problems.push('template_card.button_list keys must be unique within the card');
    if (typeof c.task_id !== 'string')
      problems.push('template_card.task_id is required for button_interaction');
  }
}

export function assertContent(msgtype: WeComMsgType, content: unknown): void {
  const problems = checkContent(msgtype, content);
  if (problems.length > 0) throw new MessageContentError(problems);
}

/**
 * Every WeCom userid a message is addressed to directly is a single member: never `@all`, never
 * `a|b`. The API's DTO says so too; this holds for every caller of MessagingService.send.
 */
export function assertRecipients(to: readonly ({ wecomUserId: string } | object)[]): void {
  const problems = to.flatMap((ref, i) =>
    'wecomUserId' in ref && !(typeof ref.wecomUserId === 'string' && WECOM_ID.test(ref.wecomUserId))
      ? [`to[${i}].wecomUserId must be ${WECOM_ID_RULE}`]
      : [],
  );
  if (problems.length > 0) throw new MessageContentError(problems);
}
