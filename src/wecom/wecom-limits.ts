/**
 * WeCom's documented message limits (shared/wecom-api.md; doc paths 90236, 90372, 90454), in
 * one place for the service's validation before queueing and for the simulator's checks.
 * Sizes named `...Bytes` count UTF-8 bytes; `...Chars` count code points, the closest match to
 * what WeCom calls characters.
 */
export const WECOM_LIMITS = {
  /** text and markdown content. Longer content is truncated by WeCom, not refused. */
  contentBytes: 2048,
  textcardTitleBytes: 128,
  textcardDescriptionBytes: 512,
  textcardButtonChars: 4,
  urlBytes: 2048,
  newsArticlesMax: 8,
  newsTitleBytes: 128,
  newsDescriptionBytes: 512,
  cardMainTitleChars: 36,
  cardMainDescChars: 44,
  cardSubTitleChars: 160,
  cardHorizontalMax: 6,
  cardHorizontalKeyChars: 20,
  cardHorizontalValueChars: 120,
  cardJumpListMax: 3,
  cardButtonsMax: 6,
  cardButtonTextChars: 10,
  cardButtonKeyBytes: 1024,
  taskIdBytes: 128,
  touserMax: 1000,
  partiesOrTagsMax: 100,
  /** enable_duplicate_check: identical JSON within duplicate_check_interval is not delivered. */
  duplicateCheckDefaultSeconds: 1800,
  duplicateCheckMaxSeconds: 4 * 3600,
  /** update_template_card: the text a card's buttons are replaced with. */
  cardReplaceNameChars: 20,
  /** A response_code updates its card once, within this many hours of the send. */
  responseCodeHours: 72,
  /** message/recall takes messages of the last 24 hours only. */
  recallWindowHours: 24,
  /** Per app and member; the excess is dropped silently. */
  perMemberPerMinute: 30,
  perMemberPerHour: 1000,
} as const;

export const TASK_ID_PATTERN = /^[0-9A-Za-z_\-@]+$/;

export const CARD_TYPES = [
  'text_notice',
  'news_notice',
  'button_interaction',
  'vote_interaction',
  'multiple_interaction',
] as const;
export type CardType = (typeof CARD_TYPES)[number];

/**
 * The top-level fields message/send documents for each template_card type. A field outside its
 * type's list (e.g. jump_list on button_interaction) is not part of that card.
 */
export const CARD_FIELDS: Readonly<Record<CardType, readonly string[]>> = {
  text_notice: [
    'card_type',
    'source',
    'action_menu',
    'task_id',
    'main_title',
    'quote_area',
    'emphasis_content',
    'sub_title_text',
    'horizontal_content_list',
    'jump_list',
    'card_action',
  ],
  news_notice: [
    'card_type',
    'source',
    'action_menu',
    'task_id',
    'main_title',
    'quote_area',
    'image_text_area',
    'card_image',
    'vertical_content_list',
    'horizontal_content_list',
    'jump_list',
    'card_action',
  ],
  button_interaction: [
    'card_type',
    'source',
    'action_menu',
    'main_title',
    'quote_area',
    'sub_title_text',
    'horizontal_content_list',
    'card_action',
    'task_id',
    'button_selection',
    'button_list',
  ],
  vote_interaction: ['card_type', 'source', 'main_title', 'task_id', 'checkbox', 'submit_button'],
  multiple_interaction: [
    'card_type',
    'source',
    'main_title',
    'task_id',
    'select_list',
    'submit_button',
  ],
};

/**
 * Fields of the objects inside a card, the same for every card type that has them. Keyed by the
 * card's field; `a.b` names the items of list `b` inside object `a`.
 */
export const CARD_NESTED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  source: ['icon_url', 'desc', 'desc_color'],
  action_menu: ['desc', 'action_list'],
  'action_menu.action_list': ['text', 'key'],
  main_title: ['title', 'desc'],
  emphasis_content: ['title', 'desc'],
  quote_area: ['type', 'url', 'appid', 'pagepath', 'title', 'quote_text'],
  card_action: ['type', 'url', 'appid', 'pagepath'],
  horizontal_content_list: ['type', 'keyname', 'value', 'url', 'media_id', 'userid'],
  jump_list: ['type', 'title', 'url', 'appid', 'pagepath'],
  button_selection: ['question_key', 'title', 'option_list', 'selected_id'],
  'button_selection.option_list': ['id', 'text'],
  button_list: ['type', 'text', 'style', 'key', 'url'],
};

/** Only these card types come back with a response_code (usable once to update the card). */
export const CARD_TYPES_WITH_RESPONSE_CODE: readonly CardType[] = [
  'button_interaction',
  'vote_interaction',
  'multiple_interaction',
];

export function isCardType(value: unknown): value is CardType {
  return typeof value === 'string' && (CARD_TYPES as readonly string[]).includes(value);
}

/**
 * Paths of the fields in a template_card that its card type does not document, e.g.
 * `template_card.button_interaction.jump_list` or `template_card.text_notice.main_title.subtitle`.
 */
export function undocumentedCardFields(card: Record<string, unknown>): string[] {
  if (!isCardType(card.card_type)) return [];
  const type = card.card_type;
  const prefix = `template_card.${type}`;
  const found: string[] = [];
  for (const [key, value] of Object.entries(card)) {
    if (!CARD_FIELDS[type].includes(key)) {
      found.push(`${prefix}.${key}`);
      continue;
    }
    const nested = CARD_NESTED_FIELDS[key];
    if (!nested) continue;
    const items = Array.isArray(value) ? value : [value];
    const extra = new Set<string>();
    for (const item of items) {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) continue;
      for (const field of Object.keys(item)) if (!nested.includes(field)) extra.add(field);
    }
    for (const field of extra) found.push(`${prefix}.${key}.${field}`);
  }
  return found;
}

/**
 * Cuts text to at most `max` UTF-8 bytes without splitting a character, as WeCom does with an
 * over-long text or markdown content.
 */
export function truncateUtf8(text: string, max: number): string {
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= max) return text;
  let end = max;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (buffer[end] & 0xc0) === 0x80) end--;
  return buffer.subarray(0, end).toString('utf8');
}
