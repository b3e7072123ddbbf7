import { ConflictException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { Clock } from '../common/clock.js';
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
import { OrganizationsRepository } from './organizations.repository.js';
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
    const created = await this.repo.create(dto.slug, dto.name);
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

  async update(
    idOrSlug: string,
    dto: UpdateOrganizationDto,
    actor: string,
  ): Promise<OrganizationDto> {
    const { id } = await this.find(idOrSlug);
    const change = {
      ...(dto.name === undefined ? {} : { name: dto.name }),
      ...(dto.status === undefined ? {} : { status: dto.status }),
    };
    const changed = await this.repo.update(id, change, this.clock.now());
    if (!changed) throw new NotFoundException('Organisation not found');
    const { previous, next } = changed;
    this.organizations.forget();
    this.events.emit(OrganizationChangedEvent.key, new OrganizationChangedEvent(next, previous));
    if (previous.status !== next.status) {
      this.logger.log(`Organisation ${next.slug} is ${next.status} (by ${actor})`);
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
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
  };
}
