import {
  ConflictException,
  Injectable,
  Logger,
  NotFoundException,
  PreconditionFailedException,
} from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { Clock } from '../common/clock.js';
import { ifMatchVersion, staleVersion } from '../common/entity-version.js';
import { ProblemType } from '../common/problem-details.js';
import { rowLevelSecurityApplies } from '../database/service-role.js';
import type {
  CreateOrganizationDto,
  ListOrganizationsQueryDto,
  OrganizationDto,
  OrganizationPageDto,
  UpdateOrganizationDto,
} from './dto/organization.dto.js';
import { OrganizationChangedEvent } from './organization-events.js';
import { ORGANIZATION_SLUG_PATTERN, type Organization } from './organization.js';
import { type OrganizationChange, OrganizationsRepository } from './organizations.repository.js';
import { OrganizationsService } from './organizations.service.js';

/**
 * What operators do to organisations (/api/organizations): create, list, rename, suspend and
 * resume. Each change is committed, then OrganizationsService forgets its copy (this instance
 * resolves the change at once, others within its two seconds) and OrganizationChangedEvent
 * tells the dispatcher and the reminder scheduler (a resume sends what waited).
 */
@Injectable()
export class OrganizationOperations {
  private readonly logger = new Logger(OrganizationOperations.name);
  /** Whether the database keeps organisations apart: the pool's role does not change. */
  private isolating: Promise<boolean> | undefined;

  constructor(
    private readonly repo: OrganizationsRepository,
    private readonly organizations: OrganizationsService,
    private readonly events: EventEmitter2,
    private readonly clock: Clock,
  ) {}

  async create(dto: CreateOrganizationDto, actor: string): Promise<OrganizationDto> {
    // `default` always exists, so every organisation created here is a second one: only where
    // row-level security binds the service's role (never as a superuser, BYPASSRLS or on the
    // embedded PGlite), the same rule as the start-up check on the role.
    if (!(await this.databaseIsolates())) {
      throw new ConflictException({
        type: ProblemType.organizationsNotIsolated,
        message:
          'A second organisation needs a database that keeps organisations apart: the service ' +
          'connects as a superuser or BYPASSRLS role (or the embedded database), which row-level ' +
          'security does not bind. Connect DATABASE_URL as a NOSUPERUSER NOBYPASSRLS role ' +
          '(README: On a real PostgreSQL server)',
      });
    }
    const created = await this.repo.create(dto.slug, dto.name, distinctUserIds(dto.consoleAdmins));
    if (!created) throw new ConflictException(`An organisation with slug ${dto.slug} exists`);
    this.organizations.forget();
    this.events.emit(
      OrganizationChangedEvent.key,
      new OrganizationChangedEvent(created, undefined),
    );
    this.logger.log(`Organisation ${created.slug} (${created.id}) created by ${actor}`);
    return toDto(created);
  }

  list(query: ListOrganizationsQueryDto): Promise<OrganizationPageDto> {
    return this.repo.page(query, toDto);
  }

  async get(idOrSlug: string): Promise<OrganizationDto> {
    return toDto(await this.find(idOrSlug));
  }

  /**
   * `ifMatch` (the If-Match header, optional): the version the change is based on; a change
   * based on an older one is refused with 412 and changes nothing.
   */
  async update(
    idOrSlug: string,
    dto: UpdateOrganizationDto,
    ifMatch: string | undefined,
    actor: string,
  ): Promise<OrganizationDto> {
    const expected = ifMatchVersion(ifMatch, 'organisation');
    const { id } = await this.find(idOrSlug);
    const change: OrganizationChange = {
      ...(dto.name === undefined ? {} : { name: dto.name }),
      ...(dto.status === undefined ? {} : { status: dto.status }),
      ...(dto.consoleAdmins === undefined
        ? {}
        : { consoleAdmins: distinctUserIds(dto.consoleAdmins) }),
    };
    const changed = await this.repo.update(id, change, this.clock.now(), expected);
    if (!changed) throw new NotFoundException('Organisation not found');
    if ('stale' in changed) {
      throw new PreconditionFailedException(
        staleVersion('Organisation', expected!, changed.stale.version),
      );
    }
    const { previous, next } = changed;
    this.organizations.forget();
    this.events.emit(OrganizationChangedEvent.key, new OrganizationChangedEvent(next, previous));
    if (previous.status !== next.status) {
      this.logger.log(`Organisation ${next.slug} is ${next.status} (by ${actor})`);
    }
    if (change.consoleAdmins) {
      this.logger.log(
        `Organisation ${next.slug}'s console admins set to ${next.consoleAdmins.length} userids (by ${actor})`,
      );
    }
    return toDto(next);
  }

  /** By id or slug, read from the table (not the held copy: an operator sees what is). */
  private async find(idOrSlug: string): Promise<Organization> {
    const found = UUID.test(idOrSlug)
      ? await this.repo.findById(idOrSlug)
      : ORGANIZATION_SLUG_PATTERN.test(idOrSlug)
        ? await this.repo.findBySlug(idOrSlug)
        : null;
    if (!found) throw new NotFoundException('Organisation not found');
    return found;
  }

  private databaseIsolates(): Promise<boolean> {
    this.isolating ??= this.repo.serviceRole().then(
      (role) => !role.embedded && rowLevelSecurityApplies(role),
      (error: unknown) => {
        this.isolating = undefined; // ask again next time
        throw error;
      },
    );
    return this.isolating;
  }
}

/** Any uuid's shape: `default`'s fixed id has no version digit, so no versioned check. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toDto(o: Organization): OrganizationDto {
  return {
    id: o.id,
    slug: o.slug,
    name: o.name,
    status: o.status,
    consoleAdmins: [...o.consoleAdmins],
    version: o.version,
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
  };
}

/**
 * WeCom userids once each, in the order given: WeCom compares userids without case, so `ZhangSan`
 * and `zhangsan` are one member and the first spelling is kept.
 */
function distinctUserIds(ids: readonly string[] | undefined): string[] {
  const seen = new Set<string>();
  return (ids ?? []).filter((id) => {
    const key = id.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
