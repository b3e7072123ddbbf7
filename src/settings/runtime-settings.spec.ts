import { Logger, type LogLevel } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { inOrganization } from '../../test/support/in-organization.js';
import { LogRecorder } from '../../test/support/log-recorder.js';
import {
  createMigratedDatabase,
  type MigratedDatabase,
} from '../../test/support/migrated-database.js';
import { testEnv } from '../../test/support/test-app.js';
import { describeWithServer } from '../../test/support/test-database.js';
import { ManualClock } from '../common/clock.js';
import { NoOrganizationScopeError, type OrganizationScope } from '../common/organization-scope.js';
import type { AppConfigService } from '../config/app-config.js';
import { TransactionHost } from '../database/transaction-host.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import {
  RuntimeSettings,
  WeComAppTakenError,
  type EditableSettings,
  type EffectiveSettings,
} from './runtime-settings.js';
import { SecretBox } from './secret-box.js';
import { SettingsChangedEvent } from './settings-events.js';
import { SettingsRepository } from './settings.repository.js';

const ENV = {
  WECOM_CORP_ID: 'ww-default',
  WECOM_CORP_SECRET: 'default-secret',
  WECOM_AGENT_ID: '1000002',
  // The poll is driven by hand here (ensureFresh), never by the timer.
  SETTINGS_POLL_MS: '60000',
};

/** One instance's RuntimeSettings on its own TransactionHost, and the events it published. */
interface Instance {
  sut: RuntimeSettings;
  events: SettingsChangedEvent[];
}

async function startInstance(database: MigratedDatabase): Promise<Instance> {
  const db = new TransactionHost(database.dataSource);
  const emitter = new EventEmitter2();
  const events: SettingsChangedEvent[] = [];
  emitter.on(SettingsChangedEvent.key, (event: SettingsChangedEvent) => events.push(event));
  const sut = await RuntimeSettings.create(
    {
      repo: new SettingsRepository(db),
      db,
      box: SecretBox.fromEnv({}).box,
      clock: new ManualClock(new Date('2026-12-01T08:00:00Z')),
      events: emitter,
    },
    new ConfigService(testEnv(ENV)) as AppConfigService,
  );
  return { sut, events };
}

const app = (corpId: string, corpSecret: string, options: EffectiveSettings['options']) =>
  ({
    corpId,
    agentId: 1000002,
    corpSecret,
    callbackToken: null,
    callbackAesKey: null,
    options,
  }) satisfies EditableSettings;

/** What the settings log on their own (seeding, a change followed) is not this spec's subject. */
const QUIET: LogLevel[] = ['fatal', 'error'];
beforeAll(() => Logger.overrideLogger(QUIET));
afterAll(() => Logger.overrideLogger(true));

const saving = (fields: string[]) =>
  ({ actor: 'admin-1', action: 'update', fields, outcome: 'applied' }) as const;

describe(RuntimeSettings.name, () => {
  let database: MigratedDatabase;
  let instance: Instance;

  beforeAll(async () => {
    database = await createMigratedDatabase();
    instance = await startInstance(database);
  });

  afterAll(async () => {
    instance?.sut.onApplicationShutdown();
    await database?.close();
  });

  it("seeds `default` from the environment: its WeCom app is the environment's", async () => {
    const seeded = await inOrganization(() => instance.sut.current());
    expect(seeded).toMatchObject({
      version: 1,
      configured: true,
      corpId: 'ww-default',
      agentId: 1000002,
      corpSecret: 'default-secret',
    });
    const rows = await database.db.ownerQuery('SELECT organization_id, corp_id FROM app_settings');
    expect(rows).toEqual([{ organization_id: DEFAULT_ORGANIZATION.id, corp_id: 'ww-default' }]);
  });

  it('names no organisation by itself: without a scope it throws instead of using `default`', async () => {
    await expect(instance.sut.current()).rejects.toThrow(NoOrganizationScopeError);
    await expect(instance.sut.ensureFresh()).rejects.toThrow(NoOrganizationScopeError);
  });
});

describeWithServer(`${RuntimeSettings.name} for several organisations (PostgreSQL server)`, () => {
  let database: MigratedDatabase;
  let a: Instance;
  let b: Instance;
  let acme: OrganizationScope;
  let globex: OrganizationScope;

  const organization = async (slug: string): Promise<OrganizationScope> => {
    const [{ id }]: { id: string }[] = await database.db.ownerQuery(
      `INSERT INTO organizations (slug, name) VALUES ($1, $1) RETURNING id`,
      [slug],
    );
    return { id, slug };
  };
  const settingsRows = () =>
    database.db.ownerQuery(
      'SELECT organization_id, version, corp_id, secrets FROM app_settings ORDER BY organization_id',
    );

  beforeAll(async () => {
    database = await createMigratedDatabase();
    a = await startInstance(database);
    b = await startInstance(database);
    acme = await organization('acme');
    globex = await organization('globex');
  });

  afterAll(async () => {
    a?.sut.onApplicationShutdown();
    b?.sut.onApplicationShutdown();
    await database?.close();
  });

  it('an organisation has no WeCom app until its admin saves one, and the options of the deployment', async () => {
    const fresh = await inOrganization(() => a.sut.current(), acme);
    expect(fresh).toMatchObject({
      version: 0,
      configured: false,
      corpId: '',
      agentId: 0,
      corpSecret: '',
      updatedAt: null,
    });
    const seeded = await inOrganization(() => a.sut.current());
    expect(fresh.options).toEqual(seeded.options);
    // Reading stores nothing.
    expect(await settingsRows()).toHaveLength(1);
  });

  it("one organisation's save is its own: the other's settings, rows and events are untouched", async () => {
    const before = await settingsRows();
    const { options } = await inOrganization(() => a.sut.current(), acme);
    a.events.length = 0;
    const saved = await inOrganization(
      () => a.sut.save(app('ww-acme', 'acme-secret', options), saving(['corpId', 'corpSecret'])),
      acme,
    );
    expect(saved).toMatchObject({ version: 1, configured: true, corpId: 'ww-acme' });
    expect(a.events.map((e) => [e.organizationId, e.origin])).toEqual([[acme.id, 'here']]);

    expect(await inOrganization(() => a.sut.current(), globex)).toMatchObject({
      configured: false,
      corpId: '',
    });
    expect(await inOrganization(() => a.sut.current())).toMatchObject({ corpId: 'ww-default' });
    const after = await settingsRows();
    expect(after).toHaveLength(before.length + 1);
    expect(after).toEqual(expect.arrayContaining(before));
    // Each organisation's audit is its own.
    const audit: { organization_id: string; action: string }[] = await database.db.ownerQuery(
      'SELECT organization_id, action FROM config_audit ORDER BY id',
    );
    expect(audit.filter((r) => r.organization_id === acme.id).map((r) => r.action)).toEqual([
      'update',
    ]);
    expect(audit.filter((r) => r.organization_id === globex.id)).toEqual([]);
  });

  it("another instance follows an organisation's change on its poll, and tells only about that organisation", async () => {
    // b holds both organisations' configurations before the change.
    await inOrganization(() => b.sut.current(), acme);
    await inOrganization(() => b.sut.current(), globex);
    b.events.length = 0;
    const current = await inOrganization(() => a.sut.current(), acme);
    await inOrganization(
      () =>
        a.sut.save(
          { ...current, options: { ...current.options, feedbackNudgeMin: 30 } },
          saving(['feedbackNudgeMin']),
        ),
      acme,
    );

    expect(await inOrganization(() => b.sut.ensureFresh(), globex)).toBe(false);
    expect(await inOrganization(() => b.sut.ensureFresh(), acme)).toBe(true);
    expect(await inOrganization(() => b.sut.current(), acme)).toMatchObject({
      version: 2,
      options: { feedbackNudgeMin: 30 },
    });
    expect(b.events.map((e) => [e.organizationId, e.origin, e.credentialsChanged])).toEqual([
      [acme.id, 'elsewhere', false],
    ]);
  });

  it("a WeCom app another organisation has is refused: WeComAppTakenError, neither organisation's row changes", async () => {
    const before = await settingsRows();
    const { options } = await inOrganization(() => a.sut.current(), globex);
    // Whoever learnt Acme's secret still cannot take its app. The query logger reports the
    // refused statement: recorded and asserted here, not printed.
    const logs = new LogRecorder();
    Logger.overrideLogger(logs);
    try {
      await expect(
        inOrganization(
          () => a.sut.save(app('ww-acme', 'acme-secret', options), saving(['corpId'])),
          globex,
        ),
      ).rejects.toBeInstanceOf(WeComAppTakenError);
      expect(logs.take('error', /app_settings_corp_agent_key/).length).toBeGreaterThan(0);
    } finally {
      Logger.overrideLogger(QUIET);
    }
    expect(await settingsRows()).toEqual(before);
    expect(await inOrganization(() => a.sut.current(), globex)).toMatchObject({
      configured: false,
    });
    // The same corp with another app (agent) is another WeCom app: allowed.
    const saved = await inOrganization(
      () =>
        a.sut.save(
          { ...app('ww-acme', 'other-secret', options), agentId: 1000003 },
          saving(['corpId', 'agentId', 'corpSecret']),
        ),
      globex,
    );
    expect(saved).toMatchObject({ configured: true, corpId: 'ww-acme', agentId: 1000003 });
  });

  it('two first saves of one organisation at once make one row, versions 1 and 2', async () => {
    const initech = await organization('initech');
    const { options } = await inOrganization(() => a.sut.current(), initech);
    await inOrganization(() => b.sut.current(), initech);
    await Promise.all([
      inOrganization(() => a.sut.save(app('ww-initech', 's-1', options), saving(['*'])), initech),
      inOrganization(() => b.sut.save(app('ww-initech', 's-2', options), saving(['*'])), initech),
    ]);
    const rows: { version: string }[] = await database.db.ownerQuery(
      'SELECT version FROM app_settings WHERE organization_id = $1',
      [initech.id],
    );
    expect(rows).toEqual([{ version: '2' }]);
  });
});
