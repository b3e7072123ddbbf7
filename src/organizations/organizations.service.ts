import { ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';

import type { AuthUser } from '../auth/roles.js';
import { ProblemType } from '../common/problem-details.js';

import { Clock } from '../common/clock.js';
import { organizationScope, type OrganizationScope } from '../common/organization-scope.js';
import type { Organization } from './organization.js';
import { scopeOf } from './organization.js';
import { OrganizationsRepository } from './organizations.repository.js';

/** How long a read of the organisations table serves lookups before it is read again. */
const DIRECTORY_TTL_MS = 2_000;
/**
 * A token naming an organisation the copy lacks has the table read again if the copy is at least
 * this old: one just created on another instance is found at once, and a stream of tokens for an
 * unknown one costs a read per interval, not one each.
 */
const MISS_REREAD_MS = 250;

/**
 * Which organisations exist, for requests (slug or id to scope) and for background work (the
 * active ones to loop over). A deployment has few, read on every request and dispatcher pass, so
 * the whole table is held for a couple of seconds; `forget()` drops it after a change here.
 */
@Injectable()
export class OrganizationsService {
  private directory: { at: number; all: Organization[] } | undefined;

  constructor(
    private readonly repo: OrganizationsRepository,
    private readonly clock: Clock,
  ) {}

  /**
   * Every organisation. Not inside an organisation's transaction (UnscopedInTransactionError),
   * from the copy or not: look organisations up before the transaction opens.
   */
  async all(): Promise<Organization[]> {
    this.repo.refuseInsideTransaction();
    const now = this.clock.nowMs();
    if (this.directory && now - this.directory.at < DIRECTORY_TTL_MS) return this.directory.all;
    const all = await this.repo.findAll();
    this.directory = { at: now, all };
    return all;
  }

  /** The organisations whose deliveries, reminders and users are served now. */
  async active(): Promise<Organization[]> {
    return (await this.all()).filter((o) => o.status === 'active');
  }

  /** The organisation named by id or slug (as a token's `org` claim may), or undefined. */
  async find(idOrSlug: string): Promise<Organization | undefined> {
    return (await this.all()).find((o) => o.id === idOrSlug || o.slug === idOrSlug);
  }

  /**
   * The organisation an /api request works in, from its token's `org` claim (docs/design/
   * organisations.md, section 2, Requests):
   * - a claim naming no organisation (by id or slug): 401 `Unknown organisation`;
   * - no claim: `default` while it is the only organisation (tokens from before organisations
   *   keep working), a 401 saying so once there are several: never a guess;
   * - a suspended organisation: 403, its users wait until an operator resumes it.
   */
  async resolveForRequest(user: Pick<AuthUser, 'organization'>): Promise<Organization> {
    const all = await this.all();
    let organization: Organization | undefined;
    if (user.organization === undefined) {
      if (all.length !== 1) {
        throw new UnauthorizedException({
          type: ProblemType.organizationUnnamed,
          message: 'This token names no organisation (org claim) and there are several',
        });
      }
      organization = all[0];
    } else {
      const claim = user.organization;
      const named = (o: Organization) => o.id === claim || o.slug === claim;
      organization = all.find(named);
      if (!organization && this.clock.nowMs() - this.directory!.at >= MISS_REREAD_MS) {
        this.forget();
        organization = (await this.all()).find(named);
      }
      if (!organization) {
        throw new UnauthorizedException({
          type: ProblemType.unknownOrganization,
          message: 'Unknown organisation',
        });
      }
    }
    if (organization.status === 'suspended') {
      throw new ForbiddenException({
        type: ProblemType.organizationSuspended,
        message: `Organisation ${organization.slug} is suspended`,
      });
    }
    return organization;
  }

  /** Drops the held copy: the next lookup reads the table. */
  forget(): void {
    this.directory = undefined;
  }

  /** Runs `work` inside `organization`'s scope: every transaction it opens is that organisation's. */
  within<T>(organization: Pick<Organization, 'id' | 'slug'>, work: () => T): T {
    return organizationScope.run(scopeOf(organization), work);
  }

  /** The scope the current request or job runs in, if any. */
  current(): OrganizationScope | undefined {
    return organizationScope.get();
  }
}
