import type { OrganizationScope } from '../common/organization-scope.js';
import type { EffectiveSettings } from './runtime-settings.js';

/**
 * An organisation's runtime configuration in force changed: its admin changed it here, or this
 * instance's poll found another instance's change. Published once the new state is in force
 * (`current()` in its scope returns `next`), and in the organisation's scope; a handler that
 * does anything for it names `organization` all the same. For a change saved here
 * RuntimeSettings waits for the handlers, so that what they drop is gone before the admin's
 * request returns; a handler switches what it holds in memory before its first await.
 */
export class SettingsChangedEvent {
  static readonly key = 'settings.changed';

  constructor(
    readonly organization: OrganizationScope,
    readonly next: EffectiveSettings,
    readonly previous: EffectiveSettings,
    /** `here`: saved by this instance (admin, sandbox set-up); `elsewhere`: seen by the poll. */
    readonly origin: 'here' | 'elsewhere',
  ) {}

  get organizationId(): string {
    return this.organization.id;
  }

  /** The corp, the agent or the secret differ: tokens and tickets of the old ones must go. */
  get credentialsChanged(): boolean {
    const { next: a, previous: b } = this;
    return a.corpId !== b.corpId || a.agentId !== b.agentId || a.corpSecret !== b.corpSecret;
  }
}
