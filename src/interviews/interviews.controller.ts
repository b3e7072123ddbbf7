import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPreconditionFailedResponse,
  ApiTags,
} from '@nestjs/swagger';

import { UuidParam } from '../common/uuid-param.pipe.js';
import { CurrentUser, Roles } from '../auth/auth.decorators.js';
import type { AuthUser } from '../auth/roles.js';
import { MessageDto } from '../messaging/dto/send-message.dto.js';
import {
  CancelInterviewDto,
  CreateInterviewDto,
  RsvpDto,
  UpdateInterviewDto,
} from './dto/create-interview.dto.js';
import {
  InterviewDetailsDto,
  InterviewPageDto,
  ListInterviewsQueryDto,
  ParticipantDto,
} from './dto/interview.dto.js';
import { InterviewETag } from './interview-etag.interceptor.js';
import { InterviewsService } from './interviews.service.js';

/** Documented on every answer that carries an interview (InterviewETag sets it). */
const ETAG_HEADER = {
  ETag: {
    description:
      'The interview version as a strong entity tag, e.g. `"3"`: send it back as If-Match',
    schema: { type: 'string', example: '"3"' },
  },
};

@ApiTags('interviews')
@ApiBearerAuth()
@Roles('admin', 'recruiter', 'interviewer')
@Controller('api/interviews')
export class InterviewsController {
  constructor(private readonly interviews: InterviewsService) {}

  @Post()
  @Roles('admin', 'recruiter')
  @ApiOperation({
    operationId: 'createInterview',
    summary: 'Book an interview; interviewers and observers get an invitation card in WeCom',
  })
  @ApiCreatedResponse({ type: InterviewDetailsDto, headers: ETAG_HEADER })
  @ApiBadRequestResponse({ description: 'The message names the field and why' })
  @ApiForbiddenResponse({ description: 'Only recruiters and admins book interviews' })
  @UseInterceptors(InterviewETag)
  create(
    @Body() dto: CreateInterviewDto,
    @CurrentUser() user: AuthUser,
  ): Promise<InterviewDetailsDto> {
    return this.interviews.create(dto, user);
  }

  @Get()
  @ApiOperation({
    operationId: 'listInterviews',
    summary: 'List interviews, newest first (interviewers see only their own)',
  })
  @ApiOkResponse({ type: InterviewPageDto })
  list(
    @Query() query: ListInterviewsQueryDto,
    @CurrentUser() user: AuthUser,
  ): Promise<InterviewPageDto> {
    return this.interviews.list(query, user);
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getInterview',
    summary: 'One interview with its participants and reminders',
  })
  @ApiOkResponse({ type: InterviewDetailsDto, headers: ETAG_HEADER })
  @ApiNotFoundResponse({ description: 'Unknown, or not one of the caller’s interviews' })
  @UseInterceptors(InterviewETag)
  get(
    @Param('id', UuidParam) id: string,
    @CurrentUser() user: AuthUser,
  ): Promise<InterviewDetailsDto> {
    return this.interviews.get(id, user);
  }

  @Patch(':id')
  @Roles('admin', 'recruiter')
  @ApiOperation({
    operationId: 'updateInterview',
    summary: 'Change an interview; participants are told what changed',
  })
  @ApiHeader({
    name: 'If-Match',
    required: false,
    description: 'The version the change is based on (or `version` in the body)',
  })
  @ApiOkResponse({ type: InterviewDetailsDto, headers: ETAG_HEADER })
  @ApiBadRequestResponse({ description: 'The message names the field and why' })
  @ApiConflictResponse({
    description:
      'Someone changed it first (a stale `version` in the body; `version` names the current one), or it is canceled',
  })
  @ApiPreconditionFailedResponse({
    description: 'If-Match names a version that is no longer current: reload it and try again',
  })
  @UseInterceptors(InterviewETag)
  update(
    @Param('id', UuidParam) id: string,
    @Body() dto: UpdateInterviewDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentUser() user: AuthUser,
  ): Promise<InterviewDetailsDto> {
    return this.interviews.update(id, dto, ifMatch, user);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Roles('admin', 'recruiter')
  @ApiOperation({
    operationId: 'cancelInterview',
    summary: 'Cancel an interview; every participant is told, with the reason',
  })
  @ApiOkResponse({ type: InterviewDetailsDto, headers: ETAG_HEADER })
  @ApiConflictResponse({ description: 'Already canceled' })
  @UseInterceptors(InterviewETag)
  cancel(
    @Param('id', UuidParam) id: string,
    @Body() dto: CancelInterviewDto,
    @CurrentUser() user: AuthUser,
  ): Promise<InterviewDetailsDto> {
    return this.interviews.cancel(id, dto, user);
  }

  @Post(':id/rsvp')
  @HttpCode(200)
  @Roles('admin', 'recruiter', 'interviewer')
  @ApiOperation({
    operationId: 'answerInterview',
    summary: 'Accept or decline the invitation, as the caller',
  })
  @ApiOkResponse({ type: ParticipantDto })
  @ApiForbiddenResponse({ description: 'The caller is on it, but not as interviewer or observer' })
  @ApiNotFoundResponse({ description: 'Unknown, or the caller is not on it' })
  @ApiConflictResponse({ description: 'The interview is no longer scheduled' })
  rsvp(
    @Param('id', UuidParam) id: string,
    @Body() dto: RsvpDto,
    @CurrentUser() user: AuthUser,
  ): Promise<ParticipantDto> {
    return this.interviews.respond(id, user.id, dto.response);
  }

  @Get(':id/messages')
  @Roles('admin', 'recruiter')
  @ApiOperation({
    operationId: 'listInterviewMessages',
    summary: 'Every message sent about this interview, oldest first',
  })
  @ApiOkResponse({ type: [MessageDto] })
  messages(
    @Param('id', UuidParam) id: string,
    @CurrentUser() user: AuthUser,
  ): Promise<MessageDto[]> {
    return this.interviews.messages(id, user);
  }
}
