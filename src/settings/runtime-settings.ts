import { AsyncResource } from 'node:async_hooks';

import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { EventEmitter2 } from '@nestjs/event-emitter';

import type { Clock } from '../common/clock.js';
import { isSandbox, type AppConfigService } from '../config/app-config.js';
import type { TransactionHost } from '../database/transaction-host.js';
import type { AppSettingsEntity, SealedSecrets, SettingsOptions } from './app-settings.entity.js';
import type { SecretBox } from './secret-box.js';
import { SettingsChangedEvent } from './settings-events.js';
import type { SettingsRepository } from './settings.repository.js';

/** The configuration in force on this instance, secrets opened. */
export interface EffectiveSettings {
  version: number;
  sandbox: boolean;
  corpId: string;
  agentId: number;
  corpSecret: string;
  callbackToken: string | null;
  callbackAesKey: string | null;
  options: SettingsOptions;
  updatedAt: Date;
  updatedBy: string | null;
}

/** What an admin can change: credentials and options (secrets in plaintext, sealed on save). */
export type EditableSettings = Omit<
  EffectiveSettings,
  'version' | 'sandbox' | 'updatedAt' | 'updatedBy'
>;

export interface AuditEntry {
  actor: string;
  action: string;
  fields: string[];
  outcome: 'applied' | 'rejected';
  detail?: string | null;
  requestId?: string | null;
}

/** The environment's values: the defaults of a first start. */
export function settingsFromEnv(config: AppConfigService): EditableSettings & { sandbox: boolean } {
  const sandbox = isSandbox(config);
  const leadTimes = config
    .get('REMINDER_LEAD_TIMES_MIN', { infer: true })
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  return {
    sandbox,
    corpId: sandbox
      ? config.get('SIMULATOR_CORP_ID', { infer: true })
      : config.get('WECOM_CORP_ID', { infer: true })!,
    agentId: sandbox
      ? config.get('SIMULATOR_AGENT_ID', { infer: true })
      : config.get('WECOM_AGENT_ID', { infer: true })!,
    corpSecret: sandbox
      ? config.get('SIMULATOR_CORP_SECRET', { infer: true })
      : config.get('WECOM_CORP_SECRET', { infer: true })!,
    callbackToken: config.get('WECOM_CALLBACK_TOKEN', { infer: true }) ?? null,
    callbackAesKey: config.get('WECOM_CALLBACK_AES_KEY', { infer: true }) ?? null,
    options: {
      reminderLeadTimesMin: [...new Set(leadTimes)].sort((a, b) => a - b),
      feedbackNudgeMin: config.get('FEEDBACK_NUDGE_MIN', { infer: true }),
      quietHours: null,
      defaultLanguage: 'zh',
    },
  };
}

/**
 * The runtime configuration, stored in PostgreSQL (`app_settings`, one row, secrets sealed)
 * and shared by every instance: seeded from the environment at first start, changed by admins
 * (AdminConfigService), and picked up by the other instances within SETTINGS_POLL_MS by polling
 * the row's version. Consumers read `current()` when they need a value, or handle the
 * SettingsChangedEvent it publishes on every change.
 */
export class RuntimeSettings implements OnApplicationShutdown {
  private readonly logger = new Logger(RuntimeSettings.name);
  private state!: EffectiveSettings;
  private timer?: NodeJS.Timeout;
  private reloading?: Promise<boolean>;
  /**
   * `publish` in the context this object was made in (start-up, no transaction open): a change
   * noticed inside someone's transaction (a token refresh under its lock) must not have the
   * handlers' own queries join that transaction, which ends without waiting for them.
   */
  private readonly publishOutsideTransactions = AsyncResource.bind(
    (
      next: EffectiveSettings,
      previous: EffectiveSettings,
      origin: SettingsChangedEvent['origin'],
    ) => this.publish(next, previous, origin),
  );

  private constructor(
    private readonly repo: SettingsRepository,
    private readonly db: TransactionHost,
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly events: EventEmitter2,
  ) {}

  /** Async: the configuration is loaded (or seeded) before any provider that reads it exists. */
  static async create(
    deps: {
      repo: SettingsRepository;
      db: TransactionHost;
      box: SecretBox;
      clock: Clock;
      events: EventEmitter2;
    },
    config: AppConfigService,
  ): Promise<RuntimeSettings> {
    const settings = new RuntimeSettings(deps.repo, deps.db, deps.box, deps.clock, deps.events);
    await settings.seedOrLoad(settingsFromEnv(config));
    const every = config.get('SETTINGS_POLL_MS', { infer: true });
    settings.timer = setInterval(() => {
      settings.ensureFresh().catch((error: unknown) => {
        settings.logger.warn(`Could not check for configuration changes: ${String(error)}`);
      });
    }, every);
    settings.timer.unref();
    return settings;
  }

  current(): EffectiveSettings {
    return this.state;
  }

  /** Reloads when another instance changed the configuration; true when it did. */
  async ensureFresh(): Promise<boolean> {
    // Inside a transaction (a token refresh under its lock) the read goes through it: a load
    // running on another connection could wait on it forever (PGlite has one session).
    if (this.db.inTransaction) return this.reloadIfChanged();
    this.reloading ??= this.reloadIfChanged().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  /**
   * Writes a new configuration (version + 1) and its audit entry in one transaction, then puts it
   * in force here; the other instances follow on their next poll.
   */
  async save(next: EditableSettings, audit: AuditEntry): Promise<EffectiveSettings> {
    const saved = await this.db.transaction(async () => {
      const row = await this.repo.getForUpdate();
      const version = String(Number(row.version) + 1);
      Object.assign(row, {
        version,
        corpId: next.corpId,
        agentId: next.agentId,
        secrets: this.seal(next),
        options: next.options,
        updatedAt: this.clock.now(),
        updatedBy: audit.actor,
      });
      await this.repo.save(row);
      await this.audit(audit, version);
      return row;
    });
    const previous = this.state;
    await this.publish(this.apply(saved), previous, 'here');
    return this.state;
  }

  /** Records an audit entry outside a change (a rejected change, a connection check). */
  async record(audit: AuditEntry): Promise<void> {
    await this.audit(audit, null);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  private async reloadIfChanged(): Promise<boolean> {
    const version = await this.repo.version();
    if (version === null || version === this.state.version) return false;
    const row = await this.repo.get();
    const previous = this.state;
    let next: EffectiveSettings;
    try {
      next = this.apply(row);
    } catch (error) {
      this.logger.error(
        `Configuration version ${row.version} cannot be used here: ${(error as Error).message}`,
      );
      return false;
    }
    this.logger.log(`Configuration version ${row.version} is now in force`);
    await this.publishOutsideTransactions(next, previous, 'elsewhere');
    return true;
  }

  private async seedOrLoad(seed: ReturnType<typeof settingsFromEnv>): Promise<void> {
    const row = await this.db.transaction(async () => {
      await this.repo.lockForSeeding();
      const existing = await this.repo.find();
      const now = this.clock.now();
      if (!existing) {
        const created = await this.repo.create({
          version: '1',
          sandbox: seed.sandbox,
          corpId: seed.corpId,
          agentId: seed.agentId,
          secrets: this.seal(seed),
          options: seed.options,
          updatedAt: now,
          updatedBy: null,
        });
        await this.repo.save(created);
        await this.audit(
          { actor: 'system', action: 'seed', fields: ['*'], outcome: 'applied' },
          '1',
        );
        this.logger.log('Configuration seeded from the environment (version 1)');
        return created;
      }
      const changes: Partial<AppSettingsEntity> = {};
      const fields: string[] = [];
      const reseeded = existing.sandbox !== seed.sandbox;
      if (reseeded) {
        // Stored simulator credentials are no use against WeCom, nor real ones in the sandbox.
        const sealed = this.seal(seed);
        Object.assign(changes, {
          sandbox: seed.sandbox,
          corpId: seed.corpId,
          agentId: seed.agentId,
          secrets: { ...existing.secrets, corpSecret: sealed.corpSecret },
        });
        fields.push('corpId', 'agentId', 'corpSecret');
        this.logger.warn(
          `Stored WeCom credentials were for the ${existing.sandbox ? 'simulator' : 'real WeCom'}; replaced by the environment's`,
        );
      }
      const secrets = changes.secrets ?? existing.secrets;
      const stale = Object.entries(secrets).filter(([, v]) => v && !this.box.isCurrent(v));
      if (stale.length > 0) {
        changes.secrets = Object.fromEntries(
          Object.entries(secrets).map(([k, v]) => [k, v && this.box.seal(this.box.open(v))]),
        ) as SealedSecrets;
        fields.push(...stale.map(([k]) => k));
        this.logger.log(`Re-sealed ${stale.length} stored secret(s) with key "${this.box.keyId}"`);
      }
      if (fields.length === 0) return existing;
      const version = String(Number(existing.version) + 1);
      Object.assign(existing, changes, { version, updatedAt: now, updatedBy: 'system' });
      await this.repo.save(existing);
      const action = reseeded ? 'seed' : 'reseal';
      await this.audit({ actor: 'system', action, fields, outcome: 'applied' }, version);
      return existing;
    });
    this.apply(row);
  }

  private seal(s: Pick<EditableSettings, 'corpSecret' | 'callbackToken' | 'callbackAesKey'>) {
    const sealed: SealedSecrets = { corpSecret: this.box.seal(s.corpSecret) };
    if (s.callbackToken) sealed.callbackToken = this.box.seal(s.callbackToken);
    if (s.callbackAesKey) sealed.callbackAesKey = this.box.seal(s.callbackAesKey);
    return sealed;
  }

  /** Opens the secrets (throws if the key cannot) and puts them in force. */
  private apply(row: AppSettingsEntity): EffectiveSettings {
    const open = (v: string | undefined) => (v ? this.box.open(v) : null);
    const next: EffectiveSettings = {
      version: Number(row.version),
      sandbox: row.sandbox,
      corpId: row.corpId,
      agentId: row.agentId,
      corpSecret: open(row.secrets.corpSecret) ?? '',
      callbackToken: open(row.secrets.callbackToken),
      callbackAesKey: open(row.secrets.callbackAesKey),
      options: row.options,
      updatedAt: row.updatedAt,
      updatedBy: row.updatedBy,
    };
    this.state = next;
    return next;
  }

  /**
   * Tells the modules, through the typed event. Every handler has switched
   * before its first await (no call after this sees the old credentials here). A change saved
   * here waits for the handlers to finish: what they drop (the old token) is gone before the
   * admin's request returns. One noticed elsewhere does not: it may be noticed inside a token
   * refresh's transaction, which must not wait on handlers that may need the database.
   */
  private async publish(
    next: EffectiveSettings,
    previous: EffectiveSettings,
    origin: SettingsChangedEvent['origin'],
  ): Promise<void> {
    const handled = this.events
      .emitAsync(SettingsChangedEvent.key, new SettingsChangedEvent(next, previous, origin))
      .catch((error: unknown) => {
        this.logger.error(`A configuration change handler failed: ${String(error)}`);
      });
    if (origin === 'here') await handled;
  }

  private async audit(entry: AuditEntry, version: string | null) {
    await this.repo.addAudit({
      at: this.clock.now(),
      actor: entry.actor,
      action: entry.action,
      fields: entry.fields,
      outcome: entry.outcome,
      detail: entry.detail ?? null,
      version,
      requestId: entry.requestId ?? null,
    });
  }
}
