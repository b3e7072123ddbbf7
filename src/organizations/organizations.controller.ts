import {
  Body,
  Controller,
  Get,
  Headers,
  Injectable,
  Param,
  Patch,
  type PipeTransform,
  Post,
  Query,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPreconditionFailedResponse,
  ApiTags,
} from '@nestjs/swagger';

import { CurrentUser, NoOrganization, Roles } from '../auth/auth.decorators.js';
import type { AuthUser } from '../auth/roles.js';
import { VersionETag } from '../common/entity-version.js';
import { ValidationProblemException } from '../common/validation-problem.js';
import {
  CreateOrganizationDto,
  ListOrganizationsQueryDto,
  OrganizationDto,
  OrganizationPageDto,
  UpdateOrganizationDto,
} from './dto/organization.dto.js';
import { OrganizationOperations } from './organization-operations.service.js';
import { ORGANIZATION_SLUG_PATTERN } from './organization.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path naming an organisation by id or slug; anything else is a validation problem. */
@Injectable()
class OrganizationRefParam implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value === 'string' && (UUID.test(value) || ORGANIZATION_SLUG_PATTERN.test(value))) {
      return value;
    }
    throw new ValidationProblemException([
      { field: 'id', message: 'id must be an organisation id (UUID) or slug' },
    ]);
  }
}

/** `ETag: "<version>"` on the answers that carry one organisation. */
const OrganizationETag = VersionETag<OrganizationDto>((o) => o.version);
const ETAG_HEADER = {
  ETag: {
    description:
      'The organisation\'s version as a strong entity tag, e.g. `"3"`: send it back as If-Match',
    schema: { type: 'string' },
  },
};

const ID_OR_SLUG = {
  name: 'id',
  description: "The organisation's id or its slug",
  example: 'acme',
};

/** The platform operators' routes: organisations themselves, never any organisation's data. */
@ApiTags('organizations')
@ApiBearerAuth()
@Roles('operator')
@NoOrganization()
@Controller('api/organizations')
export class OrganizationsController {
  constructor(private readonly operations: OrganizationOperations) {}

  @Post()
  @ApiOperation({
    operationId: 'createOrganization',
    summary: 'Create an organisation (active, with no WeCom app until its admin configures one)',
  })
  @ApiCreatedResponse({ type: OrganizationDto, headers: ETAG_HEADER })
  @UseInterceptors(OrganizationETag)
  @ApiConflictResponse({
    description:
      'The slug is taken, or (`organizations-not-isolated`) the database cannot keep a second organisation apart',
  })
  create(
    @Body() dto: CreateOrganizationDto,
    @CurrentUser() user: AuthUser,
  ): Promise<OrganizationDto> {
    return this.operations.create(dto, user.id);
  }

  @Get()
  @ApiOperation({ operationId: 'listOrganizations', summary: 'List organisations, newest first' })
  @ApiOkResponse({ type: OrganizationPageDto })
  list(@Query() query: ListOrganizationsQueryDto): Promise<OrganizationPageDto> {
    return this.operations.list(query);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getOrganization', summary: 'One organisation' })
  @ApiParam(ID_OR_SLUG)
  @ApiOkResponse({ type: OrganizationDto, headers: ETAG_HEADER })
  @UseInterceptors(OrganizationETag)
  get(@Param('id', OrganizationRefParam) id: string): Promise<OrganizationDto> {
    return this.operations.get(id);
  }

  @Patch(':id')
  @ApiOperation({
    operationId: 'updateOrganization',
    summary: 'Rename, suspend or resume an organisation, or set its console admins',
  })
  @ApiParam(ID_OR_SLUG)
  @ApiHeader({
    name: 'If-Match',
    required: false,
    description: 'The version (ETag) the change is based on; absent: no check',
  })
  @ApiOkResponse({ type: OrganizationDto, headers: ETAG_HEADER })
  @ApiPreconditionFailedResponse({
    description: 'If-Match names a version that is no longer current: reload it and try again',
  })
  @UseInterceptors(OrganizationETag)
  update(
    @Param('id', OrganizationRefParam) id: string,
    @Body() dto: UpdateOrganizationDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentUser() user: AuthUser,
  ): Promise<OrganizationDto> {
    return this.operations.update(id, dto, ifMatch, user.id);
  }
}
