import { AsyncResource } from 'node:async_hooks';

import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { EventEmitter2 } from '@nestjs/event-emitter';
import { QueryFailedError } from 'typeorm';

import type { Clock } from '../common/clock.js';
import {
  organizationScope,
  requireOrganizationScope,
  type OrganizationScope,
} from '../common/organization-scope.js';
import { isSandbox, type AppConfigService } from '../config/app-config.js';
import type { TransactionHost } from '../database/transaction-host.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import type { AppSettingsEntity, SealedSecrets, SettingsOptions } from './app-settings.entity.js';
import type { SecretBox } from './secret-box.js';
import { SettingsChangedEvent } from './settings-events.js';
import type { SettingsRepository } from './settings.repository.js';

/** An organisation's configuration in force on this instance, secrets opened. */
export interface EffectiveSettings {
  /** 0 while nothing is stored for the organisation (it has no WeCom app yet). */
  version: number;
  sandbox: boolean;
  /** False until the organisation has a WeCom app: corp id `''`, agent 0, no secret till then. */
  configured: boolean;
  corpId: string;
  agentId: number;
  corpSecret: string;
  callbackToken: string | null;
  callbackAesKey: string | null;
  options: SettingsOptions;
  /** Null while nothing is stored. */
  updatedAt: Date | null;
  updatedBy: string | null;
}

/** What an admin can change: credentials and options (secrets in plaintext, sealed on save). */
export type EditableSettings = Omit<
  EffectiveSettings,
  'version' | 'sandbox' | 'configured' | 'updatedAt' | 'updatedBy'
>;

export interface AuditEntry {
  actor: string;
  action: string;
  fields: string[];
  outcome: 'applied' | 'rejected';
  detail?: string | null;
  requestId?: string | null;
}

/**
 * The WeCom app (corp id, agent id) is another organisation's: `app_settings_corp_agent_key`
 * refused the save, and nothing was changed. It names nothing of the other organisation.
 */
export class WeComAppTakenError extends Error {
  override name = 'WeComAppTakenError';

  constructor() {
    super('This WeCom app is configured for another organisation');
  }
}

/**
 * The environment's values: `default`'s at its first start. Only `default` gets the WeCom app of
 * the environment (or the sandbox); every organisation starts from the options.
 */
export function settingsFromEnv(config: AppConfigService): EditableSettings & { sandbox: boolean } {
  const sandbox = isSandbox(config);
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
    options: optionsFromEnv(config),
  };
}

/** The options every organisation starts with (REMINDER_LEAD_TIMES_MIN, FEEDBACK_NUDGE_MIN). */
function optionsFromEnv(config: AppConfigService): SettingsOptions {
  const leadTimes = config
    .get('REMINDER_LEAD_TIMES_MIN', { infer: true })
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  return {
    reminderLeadTimesMin: [...new Set(leadTimes)].sort((a, b) => a - b),
    feedbackNudgeMin: config.get('FEEDBACK_NUDGE_MIN', { infer: true }),
    quietHours: null,
    defaultLanguage: 'zh',
  };
}

/** One organisation's configuration as this instance holds it. */
interface HeldSettings {
  scope: OrganizationScope;
  state: EffectiveSettings;
  reloading?: Promise<boolean>;
}

/**
 * The runtime configuration of every organisation, stored in PostgreSQL (`app_settings`, one row
 * per organisation, secrets sealed) and shared by every instance. `default` is seeded from the
 * environment at start-up; another organisation's is loaded here on its first use in its scope
 * (and has no WeCom app until its admin configures one), changed by admins (AdminConfigService),
 * and picked up by the other instances within SETTINGS_POLL_MS: the poll reads the version of
 * each organisation held here, one scoped read each. Consumers `await current()` in the scope
 * of the organisation they work for, or handle the SettingsChangedEvent published on a change.
 */
export class RuntimeSettings implements OnApplicationShutdown {
  private readonly logger = new Logger(RuntimeSettings.name);
  /** The organisations used on this instance, by id. */
  private readonly held = new Map<string, HeldSettings>();
  /** First loads under way outside transactions, by organisation id: callers share one read. */
  private readonly loads = new Map<string, Promise<HeldSettings>>();
  private timer?: NodeJS.Timeout;
  private polling = false;
  /**
   * `publish` in the context this object was made in (start-up, no transaction open), back in
   * the organisation's scope: a change noticed inside someone's transaction (a token refresh
   * under its lock) must not have the handlers' own queries join that transaction, which ends
   * without waiting for them.
   */
  private readonly publishOutsideTransactions = AsyncResource.bind(
    (held: HeldSettings, previous: EffectiveSettings, origin: SettingsChangedEvent['origin']) =>
      organizationScope.run(held.scope, () => this.publish(held, previous, origin)),
  );

  private constructor(
    private readonly repo: SettingsRepository,
    private readonly db: TransactionHost,
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly events: EventEmitter2,
    /** What an organisation without a stored row has: the deployment's mode and options. */
    private readonly defaults: { sandbox: boolean; options: SettingsOptions },
  ) {}

  /** Async: `default` is loaded (or seeded) before any provider that reads it exists. */
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
    const seed = settingsFromEnv(config);
    const settings = new RuntimeSettings(deps.repo, deps.db, deps.box, deps.clock, deps.events, {
      sandbox: seed.sandbox,
      options: seed.options,
    });
    await organizationScope.run(DEFAULT_ORGANIZATION, () => settings.seedOrLoad(seed));
    const every = config.get('SETTINGS_POLL_MS', { infer: true });
    settings.timer = setInterval(() => {
      settings.poll().catch((error: unknown) => {
        settings.logger.warn(`Could not check for configuration changes: ${String(error)}`);
      });
    }, every);
    settings.timer.unref();
    return settings;
  }

  /** The configuration of the organisation in scope, read from the database on its first use. */
  async current(): Promise<EffectiveSettings> {
    const scope = requireOrganizationScope('RuntimeSettings.current');
    return (this.held.get(scope.id) ?? (await this.load(scope))).state;
  }

  /**
   * Reloads the scope's configuration when another instance changed it; true when it did (or
   * when this is its first read here).
   */
  async ensureFresh(): Promise<boolean> {
    const scope = requireOrganizationScope('RuntimeSettings.ensureFresh');
    const held = this.held.get(scope.id);
    if (!held) {
      await this.load(scope);
      return true;
    }
    // Inside a transaction (a token refresh under its lock) the read goes through it: a load
    // running on another connection could wait on it forever (PGlite has one session).
    if (this.db.inTransaction) return this.reloadIfChanged(held);
    held.reloading ??= this.reloadIfChanged(held).finally(() => {
      held.reloading = undefined;
    });
    return held.reloading;
  }

  /**
   * Writes the scope's new configuration (version + 1, or 1 for its first) and its audit entry
   * in one transaction, then puts it in force here; the other instances follow on their next
   * poll. A WeCom app another organisation has is refused: WeComAppTakenError, nothing saved.
   */
  async save(next: EditableSettings, audit: AuditEntry): Promise<EffectiveSettings> {
    const scope = requireOrganizationScope('RuntimeSettings.save');
    const held = this.held.get(scope.id) ?? (await this.load(scope));
    let saved: AppSettingsEntity;
    try {
      saved = await this.db.transaction(async () => {
        const row = (await this.repo.findForUpdate()) ?? (await this.createRow());
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
    } catch (error) {
      if (isViolationOf(error, WECOM_APP_UNIQUE)) throw new WeComAppTakenError();
      throw error;
    }
    const previous = held.state;
    held.state = this.open(saved);
    await this.publish(held, previous, 'here');
    return held.state;
  }

  /** Records an audit entry of the scope's organisation outside a change (a refusal, a check). */
  async record(audit: AuditEntry): Promise<void> {
    requireOrganizationScope('RuntimeSettings.record');
    await this.audit(audit, null);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Checks every organisation held here for a change made elsewhere, one after the other. */
  private async poll(): Promise<void> {
    if (this.polling || !this.db.isOpen) return;
    this.polling = true;
    try {
      for (const held of [...this.held.values()]) {
        await organizationScope
          .run(held.scope, () => this.ensureFresh())
          .catch((error) => {
            this.logger.warn(
              `Could not check organisation ${held.scope.slug} for configuration changes: ${String(error)}`,
            );
          });
      }
    } finally {
      this.polling = false;
    }
  }

  /** The first read of an organisation's configuration here; concurrent callers share it. */
  private async load(scope: OrganizationScope): Promise<HeldSettings> {
    if (this.db.inTransaction) return this.hold(scope, await this.repo.find());
    let loading = this.loads.get(scope.id);
    if (!loading) {
      loading = this.repo
        .find()
        .then((row) => this.hold(scope, row))
        .finally(() => this.loads.delete(scope.id));
      this.loads.set(scope.id, loading);
    }
    return loading;
  }

  /** Keeps what was read, unless another load got there first (the poll keeps it fresh). */
  private hold(scope: OrganizationScope, row: AppSettingsEntity | null): HeldSettings {
    const existing = this.held.get(scope.id);
    if (existing) return existing;
    const held: HeldSettings = { scope, state: row ? this.open(row) : this.unconfigured() };
    this.held.set(scope.id, held);
    return held;
  }

  private async reloadIfChanged(held: HeldSettings): Promise<boolean> {
    const version = (await this.repo.version()) ?? 0;
    if (version === held.state.version) return false;
    const row = await this.repo.find();
    if (!row) return false;
    const previous = held.state;
    try {
      held.state = this.open(row);
    } catch (error) {
      this.logger.error(
        `Configuration version ${row.version} of ${held.scope.slug} cannot be used here: ${(error as Error).message}`,
      );
      return false;
    }
    this.logger.log(`Configuration version ${row.version} of ${held.scope.slug} is now in force`);
    await this.publishOutsideTransactions(held, previous, 'elsewhere');
    return true;
  }

  /** The scope's first row (version 0 until saved), made under a lock two instances share. */
  private async createRow(): Promise<AppSettingsEntity> {
    await this.repo.lockForCreation();
    // Whoever held the lock before us may have created it.
    const created = await this.repo.findForUpdate();
    if (created) return created;
    return this.repo.create({
      version: '0',
      sandbox: this.defaults.sandbox,
      corpId: '',
      agentId: 0,
      secrets: {},
      options: this.defaults.options,
      updatedAt: this.clock.now(),
      updatedBy: null,
    });
  }

  /** `default`, at start-up: its row seeded from the environment, re-seeded, or re-sealed. */
  private async seedOrLoad(seed: ReturnType<typeof settingsFromEnv>): Promise<void> {
    const row = await this.db.transaction(async () => {
      await this.repo.lockForCreation();
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
    this.held.set(DEFAULT_ORGANIZATION.id, { scope: DEFAULT_ORGANIZATION, state: this.open(row) });
  }

  private seal(s: Pick<EditableSettings, 'corpSecret' | 'callbackToken' | 'callbackAesKey'>) {
    const sealed: SealedSecrets = { corpSecret: this.box.seal(s.corpSecret) };
    if (s.callbackToken) sealed.callbackToken = this.box.seal(s.callbackToken);
    if (s.callbackAesKey) sealed.callbackAesKey = this.box.seal(s.callbackAesKey);
    return sealed;
  }

  /** The row with its secrets opened (throws if the key cannot). */
  private open(row: AppSettingsEntity): EffectiveSettings {
    const open = (v: string | undefined) => (v ? this.box.open(v) : null);
    return {
      version: Number(row.version),
      sandbox: row.sandbox,
      configured: row.corpId !== '',
      corpId: row.corpId,
      agentId: row.agentId,
      corpSecret: open(row.secrets.corpSecret) ?? '',
      callbackToken: open(row.secrets.callbackToken),
      callbackAesKey: open(row.secrets.callbackAesKey),
      options: row.options,
      updatedAt: row.updatedAt,
      updatedBy: row.updatedBy,
    };
  }

  /** An organisation with nothing stored: no WeCom app, the deployment's options. */
  private unconfigured(): EffectiveSettings {
    return {
      version: 0,
      sandbox: this.defaults.sandbox,
      configured: false,
      corpId: '',
      agentId: 0,
      corpSecret: '',
      callbackToken: null,
      callbackAesKey: null,
      options: this.defaults.options,
      updatedAt: null,
      updatedBy: null,
    };
  }

  /**
   * Tells the modules, through the typed event, in the organisation's scope. Every handler has
   * switched before its first await (no call after this sees the old credentials here). A change
   * saved here waits for the handlers to finish: what they drop (the old token) is gone before
   * the admin's request returns. One noticed elsewhere does not: it may be noticed inside a
   * token refresh's transaction, which must not wait on handlers that may need the database.
   */
  private async publish(
    held: HeldSettings,
    previous: EffectiveSettings,
    origin: SettingsChangedEvent['origin'],
  ): Promise<void> {
    const event = new SettingsChangedEvent(held.scope, held.state, previous, origin);
    const handled = this.events
      .emitAsync(SettingsChangedEvent.key, event)
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

/** The unique index that keeps a WeCom app in one organisation (app-settings.entity.ts). */
const WECOM_APP_UNIQUE = 'app_settings_corp_agent_key';

/** True when `error` is PostgreSQL's unique violation (23505) of `constraint`. */
function isViolationOf(error: unknown, constraint: string): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const cause = error.driverError as { code?: string; constraint?: string } | undefined;
  return cause?.code === '23505' && cause.constraint === constraint;
}
