import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Roles } from '../auth/auth.decorators.js';
import {
  UnmappedParticipantListDto,
  UnmappedParticipantsQueryDto,
} from './dto/unmapped-participant.dto.js';
import { UnmappedParticipantsService } from './unmapped-participants.service.js';

@ApiTags('interviews')
@ApiBearerAuth()
@Roles('admin', 'recruiter')
@Controller('api/interview-participants')
export class UnmappedParticipantsController {
  constructor(private readonly unmapped: UnmappedParticipantsService) {}

  @Get('unmapped')
  @ApiOperation({
    operationId: 'listUnmappedParticipants',
    summary: 'Participants of recent and upcoming interviews whom WeCom will not reach',
    description:
      'No mapping, or a member who left the corp or is disabled; the soonest interview first.',
  })
  @ApiOkResponse({ type: UnmappedParticipantListDto })
  list(@Query() query: UnmappedParticipantsQueryDto): Promise<UnmappedParticipantListDto> {
    return this.unmapped.list(query.days);
  }
}
