import type { EffectiveSettings } from './runtime-settings.js';

/**
 * The runtime configuration in force changed: an admin changed it here, or this instance's poll
 * found another instance's change. Published once the new state is in force (`current()`
 * returns `next`). For a change saved here RuntimeSettings waits for the handlers, so that what
 * they drop is gone before the admin's request returns; a handler switches what it holds in
 * memory before its first await.
 */
export class SettingsChangedEvent {
  static readonly key = 'settings.changed';

  constructor(
    readonly next: EffectiveSettings,
    readonly previous: EffectiveSettings,
    /** `here`: saved by this instance (admin, sandbox set-up); `elsewhere`: seen by the poll. */
    readonly origin: 'here' | 'elsewhere',
  ) {}

  /** The corp, the agent or the secret differ: tokens and tickets of the old ones must go. */
  get credentialsChanged(): boolean {
    const { next: a, previous: b } = this;
    return a.corpId !== b.corpId || a.agentId !== b.agentId || a.corpSecret !== b.corpSecret;
  }
}
