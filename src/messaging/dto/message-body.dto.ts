/**
 * The request bodies of POST /api/messages as the OpenAPI document describes them: one schema
 * per `msgtype`, with WeCom's limits (src/wecom/wecom-limits.ts). These classes only describe;
 * SendMessageDto and checkContent (message-content.ts) validate. JSON Schema's maxLength counts
 * characters, so a limit WeCom sets in UTF-8 bytes is given as maxLength (no text of N bytes is
 * longer than N characters) and the description says bytes; `x-max-bytes` carries the number.
 */
import {
  ApiExtraModels,
  ApiProperty,
  ApiPropertyOptional,
  type ApiPropertyOptions,
  getSchemaPath,
} from '@nestjs/swagger';

import { jsonSchemaPattern } from '../../common/json-schema-pattern.js';
import { PLATFORM_ID, WECOM_ID, WECOM_ID_RULE } from '../../user-mappings/dto/user-mapping.dto.js';
import { TASK_ID_PATTERN, WECOM_LIMITS as L } from '../../wecom/wecom-limits.js';

const HTTP_URL = '^https?://\\S+$';
const bytes = (max: number, what = 'text') => ({
  maxLength: max,
  'x-max-bytes': max,
  description: `${what}; at most ${max} bytes of UTF-8 (a Chinese character takes 3)`,
});
const url = (what: string) => ({
  pattern: HTTP_URL,
  ...bytes(L.urlBytes, `${what}: an http(s) URL`),
});
const wecomUserId = {
  pattern: jsonSchemaPattern(WECOM_ID),
  description: `A WeCom userid: ${WECOM_ID_RULE}`,
  example: 'zhangsan',
};

export class PlatformRecipientDto {
  @ApiProperty({ pattern: jsonSchemaPattern(PLATFORM_ID), example: 'u_1024' })
  platformUserId: string;
}

export class WeComRecipientDto {
  @ApiProperty(wecomUserId)
  wecomUserId: string;
}

export class TextContentDto {
  @ApiProperty({ minLength: 1, ...bytes(L.contentBytes), example: '面试提醒：明天 10:00' })
  content: string;
}

export class MarkdownContentDto {
  @ApiProperty({
    minLength: 1,
    ...bytes(L.contentBytes, 'WeCom markdown'),
    example: '**面试提醒**\n> 时间：明天 10:00',
  })
  content: string;
}

export class TextcardContentDto {
  @ApiProperty({ minLength: 1, ...bytes(L.textcardTitleBytes), example: '面试邀请' })
  title: string;

  @ApiProperty({
    minLength: 1,
    ...bytes(
      L.textcardDescriptionBytes,
      'may use <div class="gray">, <div class="normal"> and <div class="highlight">',
    ),
    example: '<div class="gray">2026-11-24</div><div class="normal">前端工程师 二面</div>',
  })
  description: string;

  @ApiProperty({ ...url('Where a tap on the card leads'), example: 'https://example.com/i/42' })
  url: string;

  @ApiPropertyOptional({
    maxLength: L.textcardButtonChars,
    description: `The button's text, at most ${L.textcardButtonChars} characters (WeCom shows 详情 without it)`,
    example: '详情',
  })
  btntxt?: string;
}

export class NewsArticleDto {
  @ApiProperty({ minLength: 1, ...bytes(L.newsTitleBytes), example: '面试安排' })
  title: string;

  @ApiPropertyOptional({ ...bytes(L.newsDescriptionBytes), example: '明天 10:00，线上' })
  description?: string;

  @ApiProperty({ ...url('Where the article leads'), example: 'https://example.com/i/42' })
  url: string;

  @ApiPropertyOptional({ ...url('The picture'), example: 'https://example.com/cover.png' })
  picurl?: string;
}

export class NewsContentDto {
  @ApiProperty({ type: [NewsArticleDto], minItems: 1, maxItems: L.newsArticlesMax })
  articles: NewsArticleDto[];
}

export class CardSourceDto {
  @ApiPropertyOptional({ ...url('Icon') }) icon_url?: string;
  @ApiPropertyOptional() desc?: string;
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 3 }) desc_color?: number;
}

export class CardActionMenuItemDto {
  @ApiProperty() text: string;
  @ApiProperty() key: string;
}

export class CardActionMenuDto {
  @ApiProperty() desc: string;
  @ApiProperty({ type: [CardActionMenuItemDto] }) action_list: CardActionMenuItemDto[];
}

export class CardMainTitleDto {
  @ApiProperty({ minLength: 1, maxLength: L.cardMainTitleChars, example: '面试邀请' })
  title: string;

  @ApiPropertyOptional({ maxLength: L.cardMainDescChars, example: '前端工程师 二面' })
  desc?: string;
}

export class CardEmphasisDto {
  @ApiPropertyOptional() title?: string;
  @ApiPropertyOptional() desc?: string;
}

export class CardQuoteAreaDto {
  @ApiPropertyOptional({ type: 'integer', description: '0 none, 1 URL, 2 mini program' })
  type?: number;
  @ApiPropertyOptional({ ...url('Where the quote leads') }) url?: string;
  @ApiPropertyOptional() appid?: string;
  @ApiPropertyOptional() pagepath?: string;
  @ApiPropertyOptional() title?: string;
  @ApiPropertyOptional() quote_text?: string;
}

export class CardActionDto {
  @ApiProperty({ type: 'integer', description: '1 URL (give url), 2 mini program' })
  type: number;
  @ApiPropertyOptional({ ...url('Where a tap on the card leads') }) url?: string;
  @ApiPropertyOptional() appid?: string;
  @ApiPropertyOptional() pagepath?: string;
}

export class CardHorizontalItemDto {
  @ApiPropertyOptional({
    type: 'integer',
    description: '0 text, 1 URL, 2 attachment, 3 a member (give userid)',
  })
  type?: number;

  @ApiProperty({ minLength: 1, maxLength: L.cardHorizontalKeyChars, example: '时间' })
  keyname: string;

  @ApiPropertyOptional({ maxLength: L.cardHorizontalValueChars, example: '明天 10:00' })
  value?: string;

  @ApiPropertyOptional({ ...url('Link') }) url?: string;
  @ApiPropertyOptional() media_id?: string;
  @ApiPropertyOptional(wecomUserId) userid?: string;
}

export class CardJumpDto {
  @ApiPropertyOptional({ type: 'integer', description: '0 none, 1 URL, 2 mini program' })
  type?: number;
  @ApiProperty() title: string;
  @ApiPropertyOptional({ ...url('Link') }) url?: string;
  @ApiPropertyOptional() appid?: string;
  @ApiPropertyOptional() pagepath?: string;
}

export class CardOptionDto {
  @ApiProperty() id: string;
  @ApiProperty() text: string;
}

export class CardButtonSelectionDto {
  @ApiProperty() question_key: string;
  @ApiPropertyOptional() title?: string;
  @ApiProperty({ type: [CardOptionDto] }) option_list: CardOptionDto[];
  @ApiPropertyOptional() selected_id?: string;
}

export class CardButtonDto {
  @ApiPropertyOptional({
    type: 'integer',
    enum: [0, 1],
    description: '0 (default) a callback with `key`; 1 opens `url`',
  })
  type?: number;

  @ApiProperty({ minLength: 1, maxLength: L.cardButtonTextChars, example: '接受' })
  text: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 4 })
  style?: number;

  @ApiPropertyOptional({
    minLength: 1,
    ...bytes(L.cardButtonKeyBytes, 'Reported back on a tap; unique within the card'),
    example: 'accept',
  })
  key?: string;

  @ApiPropertyOptional({ ...url('Opened when type is 1') }) url?: string;
}

const taskId = {
  pattern: jsonSchemaPattern(TASK_ID_PATTERN),
  maxLength: L.taskIdBytes,
  description: 'Unique per app; the card is updated through it',
  example: 'interview_42_invite',
};

class CardCommonDto {
  @ApiPropertyOptional({ type: CardSourceDto }) source?: CardSourceDto;
  @ApiPropertyOptional({ type: CardActionMenuDto }) action_menu?: CardActionMenuDto;
  @ApiProperty({ type: CardMainTitleDto }) main_title: CardMainTitleDto;
  @ApiPropertyOptional({ type: CardQuoteAreaDto }) quote_area?: CardQuoteAreaDto;
  @ApiPropertyOptional({ maxLength: L.cardSubTitleChars }) sub_title_text?: string;
  @ApiPropertyOptional({ type: [CardHorizontalItemDto], maxItems: L.cardHorizontalMax })
  horizontal_content_list?: CardHorizontalItemDto[];
}

export class TextNoticeCardDto extends CardCommonDto {
  @ApiProperty({ enum: ['text_notice'] }) card_type: 'text_notice';
  @ApiPropertyOptional(taskId) task_id?: string;
  @ApiPropertyOptional({ type: CardEmphasisDto }) emphasis_content?: CardEmphasisDto;
  @ApiPropertyOptional({ type: [CardJumpDto], maxItems: L.cardJumpListMax })
  jump_list?: CardJumpDto[];
  @ApiProperty({ type: CardActionDto }) card_action: CardActionDto;
}

export class ButtonInteractionCardDto extends CardCommonDto {
  @ApiProperty({ enum: ['button_interaction'] }) card_type: 'button_interaction';
  @ApiProperty(taskId) task_id: string;
  @ApiPropertyOptional({ type: CardActionDto }) card_action?: CardActionDto;
  @ApiPropertyOptional({ type: CardButtonSelectionDto }) button_selection?: CardButtonSelectionDto;
  @ApiProperty({ type: [CardButtonDto], minItems: 1, maxItems: L.cardButtonsMax })
  button_list: CardButtonDto[];
}

/** A template_card is one of the two card types we send, told apart by `card_type`. */
export const TEMPLATE_CARD_SCHEMA = {
  oneOf: [
    { $ref: getSchemaPath(TextNoticeCardDto) },
    { $ref: getSchemaPath(ButtonInteractionCardDto) },
  ],
  discriminator: {
    propertyName: 'card_type',
    mapping: {
      text_notice: getSchemaPath(TextNoticeCardDto),
      button_interaction: getSchemaPath(ButtonInteractionCardDto),
    },
  },
};

const RECIPIENTS: ApiPropertyOptions = {
  type: 'array',
  minItems: 1,
  // SendMessageDto's ArrayMaxSize (the service splits the list into WeCom calls of at most 1000).
  maxItems: 5000,
  description: 'Each recipient by platform user id (mapped) or WeCom userid',
  items: {
    oneOf: [
      { $ref: getSchemaPath(PlatformRecipientDto) },
      { $ref: getSchemaPath(WeComRecipientDto) },
    ],
  },
};

abstract class SendMessageBase {
  @ApiProperty(RECIPIENTS)
  to: (PlatformRecipientDto | WeComRecipientDto)[];

  @ApiPropertyOptional({
    pattern: '^[\\x21-\\x7e]{1,128}$',
    description: 'The same key twice (per caller) returns the first message instead of a new one',
    example: 'invite-42-u_1024',
  })
  idempotencyKey?: string;
}

export class SendTextMessageDto extends SendMessageBase {
  @ApiProperty({ enum: ['text'] }) msgtype: 'text';
  @ApiProperty({ type: TextContentDto }) text: TextContentDto;
}

export class SendMarkdownMessageDto extends SendMessageBase {
  @ApiProperty({ enum: ['markdown'] }) msgtype: 'markdown';
  @ApiProperty({ type: MarkdownContentDto }) markdown: MarkdownContentDto;
}

export class SendTextcardMessageDto extends SendMessageBase {
  @ApiProperty({ enum: ['textcard'] }) msgtype: 'textcard';
  @ApiProperty({ type: TextcardContentDto }) textcard: TextcardContentDto;
}

export class SendNewsMessageDto extends SendMessageBase {
  @ApiProperty({ enum: ['news'] }) msgtype: 'news';
  @ApiProperty({ type: NewsContentDto }) news: NewsContentDto;
}

@ApiExtraModels(TextNoticeCardDto, ButtonInteractionCardDto)
export class SendTemplateCardMessageDto extends SendMessageBase {
  @ApiProperty({ enum: ['template_card'] }) msgtype: 'template_card';
  @ApiProperty(TEMPLATE_CARD_SCHEMA) template_card: TextNoticeCardDto | ButtonInteractionCardDto;
}

export const SEND_MESSAGE_MODELS = [
  PlatformRecipientDto,
  WeComRecipientDto,
  TextNoticeCardDto,
  ButtonInteractionCardDto,
  SendTextMessageDto,
  SendMarkdownMessageDto,
  SendTextcardMessageDto,
  SendNewsMessageDto,
  SendTemplateCardMessageDto,
] as const;

const BY_MSGTYPE = {
  text: SendTextMessageDto,
  markdown: SendMarkdownMessageDto,
  textcard: SendTextcardMessageDto,
  news: SendNewsMessageDto,
  template_card: SendTemplateCardMessageDto,
};

/** POST /api/messages: one body per msgtype. */
export const SEND_MESSAGE_SCHEMA = {
  oneOf: Object.values(BY_MSGTYPE).map((model) => ({ $ref: getSchemaPath(model) })),
  discriminator: {
    propertyName: 'msgtype',
    mapping: Object.fromEntries(
      Object.entries(BY_MSGTYPE).map(([type, model]) => [type, getSchemaPath(model)]),
    ),
  },
};

/** A stored message's body: the one of its msgtype, as it was queued. */
export const MESSAGE_CONTENT_SCHEMA = {
  description: 'The body of the `msgtype` (text and markdown have the same shape)',
  anyOf: [
    { $ref: getSchemaPath(TextContentDto) },
    { $ref: getSchemaPath(TextcardContentDto) },
    { $ref: getSchemaPath(NewsContentDto) },
    { $ref: getSchemaPath(TextNoticeCardDto) },
    { $ref: getSchemaPath(ButtonInteractionCardDto) },
  ],
};

export const MESSAGE_CONTENT_MODELS = [
  TextContentDto,
  TextcardContentDto,
  NewsContentDto,
  TextNoticeCardDto,
  ButtonInteractionCardDto,
] as const;
