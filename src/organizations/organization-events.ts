import type { Organization } from './organization.js';

/**
 * An organisation was created, renamed, suspended or resumed (docs/design/organisations.md,
 * section 6). Published in-process by whoever changed it (the operator routes), once the change
 * is committed and OrganizationsService has forgotten its copy. Other instances notice at their
 * next read of the organisations (a couple of seconds at most).
 */
export class OrganizationChangedEvent {
  static readonly key = 'organization.changed';

  constructor(
    readonly next: Organization,
    /** Undefined when the organisation was just created. */
    readonly previous: Organization | undefined,
  ) {}

  /**
   * Suspended until now, active again: the dispatcher and the reminder scheduler take up at
   * once what waited for it, instead of at their next poll.
   */
  get resumed(): boolean {
    return this.previous?.status === 'suspended' && this.next.status === 'active';
  }
}
