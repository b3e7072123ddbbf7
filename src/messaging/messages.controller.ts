import { Body, Controller, Get, HttpCode, Param, ParseBoolPipe, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';

import { UuidParam } from '../common/uuid-param.pipe.js';
import { CurrentUser, Roles } from '../auth/auth.decorators.js';
import type { AuthUser } from '../auth/roles.js';
import { ValidationProblemException } from '../common/validation-problem.js';
import {
  ListMessagesQueryDto,
  MessageDto,
  MessagePageDto,
  SendMessageDto,
} from './dto/send-message.dto.js';
import {
  MESSAGE_CONTENT_MODELS,
  SEND_MESSAGE_MODELS,
  SEND_MESSAGE_SCHEMA,
} from './dto/message-body.dto.js';
import { MessageContentError } from './message-content.js';
import { MessageHistoryService, toMessageDto } from './message-history.service.js';
import { MessagingService, type RecipientRef } from './messaging.service.js';

@ApiTags('messages')
@ApiBearerAuth()
@ApiExtraModels(...SEND_MESSAGE_MODELS, ...MESSAGE_CONTENT_MODELS)
@Roles('admin', 'recruiter')
@Controller('api/messages')
export class MessagesController {
  constructor(
    private readonly messaging: MessagingService,
    private readonly history: MessageHistoryService,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    operationId: 'sendMessage',
    summary: 'Queue a message to people in WeCom (e.g. a test message)',
  })
  @ApiBody({ schema: SEND_MESSAGE_SCHEMA })
  @ApiAcceptedResponse({ type: MessageDto })
  @ApiBadRequestResponse({ description: 'The body breaks a WeCom limit; the message says which' })
  async send(@Body() dto: SendMessageDto, @CurrentUser() user: AuthUser): Promise<MessageDto> {
    const to = dto.to.map((r, i): RecipientRef => {
      if ((r.platformUserId === undefined) === (r.wecomUserId === undefined)) {
        throw ValidationProblemException.fromMessages([
          `to[${i}] must give exactly one of platformUserId or wecomUserId`,
        ]);
      }
      return r.platformUserId !== undefined
        ? { platformUserId: r.platformUserId }
        : { wecomUserId: r.wecomUserId! };
    });
    const content = dto[dto.msgtype];
    if (!content)
      throw ValidationProblemException.fromMessages([
        `${dto.msgtype} is required when msgtype is ${dto.msgtype}`,
      ]);
    try {
      const message = await this.messaging.send({
        kind: 'api.message',
        msgtype: dto.msgtype,
        content,
        to,
        idempotencyKey: dto.idempotencyKey ? `api:${user.id}:${dto.idempotencyKey}` : undefined,
        createdBy: user.id,
      });
      return toMessageDto(message);
    } catch (error) {
      if (error instanceof MessageContentError)
        throw ValidationProblemException.fromMessages(error.problems);
      throw error;
    }
  }

  @Get()
  @ApiOperation({ operationId: 'listMessages', summary: 'The message history, newest first' })
  @ApiOkResponse({ type: MessagePageDto })
  list(@Query() query: ListMessagesQueryDto): Promise<MessagePageDto> {
    return this.history.list(query);
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getMessage',
    summary: 'One message with its recipients and every attempt',
  })
  @ApiOkResponse({ type: MessageDto })
  get(@Param('id', UuidParam) id: string): Promise<MessageDto> {
    return this.history.get(id);
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'retryMessage',
    summary: 'Queue the failed recipients of a message again',
  })
  @ApiAcceptedResponse({ type: MessageDto })
  @ApiConflictResponse({
    description: 'Only failed or partially sent messages, with a failed recipient, are retried',
  })
  retry(@Param('id', UuidParam) id: string): Promise<MessageDto> {
    return this.history.retry(id);
  }

  @Post(':id/recall')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'recallMessage',
    summary: 'Recall a message sent in the last 24 hours',
    description:
      'Messages with the same content may have gone out in one WeCom call; recalling one of them ' +
      'recalls them all, so that needs ?includeShared=true (409 otherwise, naming them).',
  })
  @ApiQuery({ name: 'includeShared', required: false, enum: ['true', 'false'] })
  @ApiOkResponse({ type: MessageDto })
  @ApiConflictResponse({
    description: 'Not sent, older than 24 hours, or sent in one call with others (`includeShared`)',
  })
  @ApiBadGatewayResponse({ description: 'WeCom could not be reached; nothing was recalled' })
  recall(
    @Param('id', UuidParam) id: string,
    @Query('includeShared', new ParseBoolPipe({ optional: true })) includeShared?: boolean,
  ): Promise<MessageDto> {
    return this.history.recall(id, includeShared ?? false);
  }
}
