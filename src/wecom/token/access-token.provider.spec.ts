import { ConfigService } from '@nestjs/config';
import { ConsoleLogger } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';
import { getDataSourceToken } from '@nestjs/typeorm';
import { Test, type TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';

import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from '../../../test/support/test-database.js';
import { openMigratedDataSource } from '../../../test/support/migrated-database.js';
import { inOrganization } from '../../../test/support/in-organization.js';
import {
  NoOrganizationScopeError,
  type OrganizationScope,
} from '../../common/organization-scope.js';
import { testEnv } from '../../../test/support/test-app.js';
import { Clock, ManualClock } from '../../common/clock.js';
import type { AppConfigService } from '../../config/app-config.js';
import { TransactionHost } from '../../database/transaction-host.js';
import { OrganizationEntity } from '../../organizations/organization.entity.js';
import { OrganizationsRepository } from '../../organizations/organizations.repository.js';
import { OrganizationsService } from '../../organizations/organizations.service.js';
import { AppSettingsEntity, ConfigAuditEntity } from '../../settings/app-settings.entity.js';
import { RuntimeSettings } from '../../settings/runtime-settings.js';
import { SecretBox } from '../../settings/secret-box.js';
import { SettingsRepository } from '../../settings/settings.repository.js';
import { WeComApiError } from '../client/wecom-api.error.js';
import { WeComHttp } from '../client/wecom-http.js';
import { CREDENTIALS_REJECTED_PAUSE_MS, GETTOKEN_PATH } from '../client/wecom-retry-policy.js';
import type { GetTokenResponse } from '../client/wecom.types.js';
import { JsapiTicketProvider } from '../jssdk/jsapi-ticket.provider.js';
import { WeComCredentialsService } from '../wecom-credentials.service.js';
import { WeComSettings, type WeComCredentials } from '../wecom-settings.js';
import { AccessTokenProvider } from './access-token.provider.js';
import { MIN_FETCH_INTERVAL_MS } from './shared-credential-cache.js';
import { WeComCredentialEntity } from './wecom-credential.entity.js';
import { WeComCredentialsRepository } from './wecom-credentials.repository.js';

const S = 1000;
const LIFETIME_S = 7200;
const MARGIN_S = 600;
const ENV = {
  WECOM_CORP_ID: 'ww-medium',
  WECOM_CORP_SECRET: 'secret-one',
  WECOM_AGENT_ID: '1000002',
  WECOM_TOKEN_REFRESH_MARGIN_S: String(MARGIN_S),
};

/**
 * WeCom's gettoken as the provider sees it (WeComHttp.fetchAccessToken), shared by every
 * instance like the real one: a new token per call unless told otherwise, or a refusal.
 */
class FakeGetToken {
  readonly calls: WeComCredentials[] = [];
  private issued = 0;
  private refusals: number[] = [];
  /** Hands back the last token instead of a new one (WeCom's documented behaviour). */
  reuse = false;

  constructor(private readonly clock: Clock) {}

  /** Secrets WeCom no longer accepts (reset in its console), with the errcode it answers. */
  private readonly refusedSecrets = new Map<string, number>();

  refuseNext(errcode: number): void {
    this.refusals.push(errcode);
  }

  refuseSecret(secret: string, errcode: number): void {
    this.refusedSecrets.set(secret, errcode);
  }

  async fetchAccessToken(creds: WeComCredentials): Promise<GetTokenResponse> {
    this.calls.push({ ...creds });
    // The answer takes a moment, during which the others queue on the lock.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const errcode = this.refusedSecrets.get(creds.corpSecret) ?? this.refusals.shift();
    if (errcode !== undefined) {
      throw new WeComApiError(GETTOKEN_PATH, errcode, `refused (${errcode})`, false);
    }
    if (!this.reuse || this.issued === 0) this.issued++;
    return {
      errcode: 0,
      errmsg: 'ok',
      access_token: `token-${this.issued}-for-${creds.corpSecret}`,
      expires_in: LIFETIME_S,
    };
  }

  get secretsAsked(): string[] {
    return this.calls.map((c) => c.corpSecret);
  }

  callsFor(corpId: string): number {
    return this.calls.filter((c) => c.corpId === corpId).length;
  }
}

/** One instance of the service, reduced to what the token provider needs, on its own pool. */
interface Instance {
  sut: AccessTokenProvider;
  runtime: RuntimeSettings;
  dataSource: DataSource;
  close(): Promise<void>;
}

async function startInstance(
  db: TestDatabase,
  clock: Clock,
  wecom: FakeGetToken,
): Promise<Instance> {
  const env = testEnv(ENV);
  const dataSource = await openMigratedDataSource(db, {
    entities: [OrganizationEntity, AppSettingsEntity, ConfigAuditEntity, WeComCredentialEntity],
  });
  const config: AppConfigService = new ConfigService(env);
  const builder = Test.createTestingModule({
    imports: [EventEmitterModule.forRoot()],
    providers: [
      { provide: getDataSourceToken(), useValue: dataSource },
      { provide: ConfigService, useValue: config },
      { provide: Clock, useValue: clock },
      { provide: SecretBox, useValue: SecretBox.fromEnv({}).box },
      { provide: WeComHttp, useValue: wecom },
      { provide: SchedulerRegistry, useValue: {} },
      // The tickets have their own caches; here only that they are told is of interest.
      {
        provide: JsapiTicketProvider,
        useValue: { useCredentials: () => undefined, dropStored: async () => undefined },
      },
      TransactionHost,
      SettingsRepository,
      OrganizationsRepository,
      OrganizationsService,
      {
        provide: RuntimeSettings,
        inject: [SettingsRepository, TransactionHost, SecretBox, Clock, EventEmitter2],
        useFactory: (
          repo: SettingsRepository,
          db: TransactionHost,
          box: SecretBox,
          clock: Clock,
          events: EventEmitter2,
        ) => RuntimeSettings.create({ repo, db, box, clock, events }, config),
      },
      {
        provide: WeComSettings,
        inject: [RuntimeSettings],
        useFactory: (runtime: RuntimeSettings) =>
          ({
            sandbox: false,
            credentials: async () => {
              const { corpId, corpSecret, agentId } = await runtime.current();
              return { corpId, corpSecret, agentId };
            },
          }) as unknown as WeComSettings,
      },
      WeComCredentialsRepository,
      AccessTokenProvider,
      WeComCredentialsService,
    ],
  });
  // The refusals these specs provoke are logged as errors by design; the assertions say the rest.
  const moduleRef: TestingModule = await builder
    .setLogger(new ConsoleLogger({ logLevels: ['fatal'] }))
    .compile();
  await moduleRef.init();
  const sut = moduleRef.get(AccessTokenProvider);
  return {
    sut,
    runtime: moduleRef.get(RuntimeSettings),
    dataSource,
    close: async () => {
      await moduleRef.close();
      await dataSource.destroy();
    },
  };
}

const T0 = Date.parse('2026-12-01T08:00:00Z');

/** Lets the provider's start-up load (onApplicationBootstrap) finish before counting calls. */
async function settled(instance: Instance): Promise<void> {
  await instance.sut.getToken().catch(() => undefined);
}

/** Read as the owner: what is stored, whatever the service's role may see. */
const storedTokens = async (db: TestDatabase) =>
  (await db.ownerQuery(
    `SELECT corp_id, value_fingerprint FROM wecom_credentials WHERE kind = 'access_token'`,
  )) as { corp_id: string; value_fingerprint: string }[];

describe(`${AccessTokenProvider.name} (PostgreSQL, fake gettoken)`, () => {
  let db: TestDatabase;
  let clock: ManualClock;
  let wecom: FakeGetToken;
  let instance: Instance | undefined;

  beforeEach(() =>
    inOrganization(async () => {
      db = await createTestDatabase();
      clock = new ManualClock(new Date(T0));
      wecom = new FakeGetToken(clock);
    }),
  );

  afterEach(async () => {
    await instance?.close();
    instance = undefined;
    await db.drop();
  });

  it('refreshes once ahead of expiry when the clock reaches the margin, and renews at expiry', () =>
    inOrganization(async () => {
      instance = await startInstance(db, clock, wecom);
      const { sut } = instance;
      expect(await sut.getToken()).toBe('token-1-for-secret-one');

      clock.advance((LIFETIME_S - MARGIN_S - 1) * S);
      expect(await sut.refreshIfExpiring()).toBe(false);
      expect(wecom.calls).toHaveLength(1);

      clock.advance(2 * S);
      expect(await sut.refreshIfExpiring()).toBe(true);
      expect(wecom.calls).toHaveLength(2);
      expect(await sut.getToken()).toBe('token-2-for-secret-one');
      // One early call per token: the next cron tick leaves it alone.
      clock.advance(60 * S);
      expect(await sut.refreshIfExpiring()).toBe(false);
      expect(wecom.calls).toHaveLength(2);

      // The new token's own life ends: the next caller gets a third, in one call.
      clock.advance(LIFETIME_S * S);
      expect(await sut.getToken()).toBe('token-3-for-secret-one');
      expect(wecom.calls).toHaveLength(3);
    }));

  it('a WeCom that hands the same token back is asked early once, then not again before it ends', () =>
    inOrganization(async () => {
      wecom.reuse = true;
      instance = await startInstance(db, clock, wecom);
      const { sut } = instance;
      await settled(instance);
      clock.advance((LIFETIME_S - MARGIN_S + 1) * S);
      expect(await sut.refreshIfExpiring()).toBe(false);
      clock.advance(120 * S);
      expect(await sut.refreshIfExpiring()).toBe(false);
      expect(wecom.calls).toHaveLength(2);
      expect(await sut.getToken()).toBe('token-1-for-secret-one');
    }));

  it('refetches a token WeCom called bad (40014/42001) once, 5 s after the last call', () =>
    inOrganization(async () => {
      instance = await startInstance(db, clock, wecom);
      const { sut } = instance;
      const bad = await sut.getToken();

      await sut.invalidate(bad);
      clock.advance(MIN_FETCH_INTERVAL_MS);
      expect(await sut.getToken()).toBe('token-2-for-secret-one');
      // A late caller that saw the same bad token does not throw the new one away.
      await sut.invalidate(bad);
      expect(await sut.getToken()).toBe('token-2-for-secret-one');
      expect(wecom.calls).toHaveLength(2);
    }));

  it('holds every call while WeCom refuses the credentials, says why, and asks again after the pause', () =>
    inOrganization(async () => {
      wecom.refuseNext(40001);
      instance = await startInstance(db, clock, wecom);
      const { sut } = instance;

      await expect(sut.getToken()).rejects.toMatchObject({ errcode: 40001 });
      await expect(sut.getToken()).rejects.toMatchObject({ errcode: 40001 });
      expect(wecom.calls).toHaveLength(1);
      expect(sut.status()).toMatchObject({ status: 'misconfigured', errcode: 40001 });

      clock.advance(CREDENTIALS_REJECTED_PAUSE_MS);
      expect(await sut.getToken()).toBe('token-1-for-secret-one');
      expect(sut.status()).toMatchObject({ status: 'ok' });

      // 60020 comes from the calls after gettoken; the dispatcher reports it here.
      sut.reportRejected(
        new WeComApiError(
          '/cgi-bin/message/send',
          60020,
          'not allow to access from your ip, from ip: 203.0.113.9',
          false,
        ),
      );
      await expect(sut.getToken()).rejects.toMatchObject({ errcode: 60020 });
      expect(sut.status()).toMatchObject({
        status: 'misconfigured',
        errcode: 60020,
        fromIp: '203.0.113.9',
      });
      expect(wecom.calls).toHaveLength(2);
    }));

  it('a saved change of secret drops the stored token before it returns; the next call uses the new secret', () =>
    inOrganization(async () => {
      instance = await startInstance(db, clock, wecom);
      const { sut, runtime } = instance;
      expect(await sut.getToken()).toBe('token-1-for-secret-one');
      expect(await storedTokens(db)).toHaveLength(1);

      const { corpId, agentId, callbackToken, callbackAesKey, options } = await runtime.current();
      await runtime.save(
        { corpId, agentId, callbackToken, callbackAesKey, options, corpSecret: 'secret-two' },
        { actor: 'admin-1', action: 'update', fields: ['corpSecret'], outcome: 'applied' },
      );
      expect(await storedTokens(db)).toEqual([]);

      clock.advance(MIN_FETCH_INTERVAL_MS);
      expect(await sut.getToken()).toBe('token-2-for-secret-two');
      expect(wecom.secretsAsked).toEqual(['secret-one', 'secret-two']);
    }));

  it('a change that leaves the credentials alone keeps the token', () =>
    inOrganization(async () => {
      instance = await startInstance(db, clock, wecom);
      const { sut, runtime } = instance;
      const token = await sut.getToken();
      const current = await runtime.current();
      await runtime.save(
        { ...current, options: { ...current.options, feedbackNudgeMin: 45 } },
        { actor: 'admin-1', action: 'update', fields: ['feedbackNudgeMin'], outcome: 'applied' },
      );
      expect(await sut.getToken()).toBe(token);
      expect(wecom.calls).toHaveLength(1);
    }));
});

describeWithServer(`${AccessTokenProvider.name} on two instances (PostgreSQL server)`, () => {
  let db: TestDatabase;
  let clock: ManualClock;
  let wecom: FakeGetToken;
  let instances: Instance[] = [];

  beforeEach(() =>
    inOrganization(async () => {
      db = await createTestDatabase();
      clock = new ManualClock(new Date(T0));
      wecom = new FakeGetToken(clock);
      // The first one migrates and seeds; the second finds both done.
      instances = [await startInstance(db, clock, wecom)];
      instances.push(await startInstance(db, clock, wecom));
    }),
  );

  afterEach(async () => {
    await Promise.all(instances.map((i) => i.close()));
    await db.drop();
  });

  it('one gettoken serves both: the second waits on the lock and reads what the first stored', () =>
    inOrganization(async () => {
      const [a, b] = instances as [Instance, Instance];
      const tokens = await Promise.all([a.sut.getToken(), b.sut.getToken(), b.sut.getToken()]);
      expect(new Set(tokens)).toEqual(new Set(['token-1-for-secret-one']));
      expect(wecom.calls).toHaveLength(1);

      // At expiry, both renew at once: still one call.
      clock.advance(LIFETIME_S * S);
      const renewed = await Promise.all([a.sut.getToken(), b.sut.getToken()]);
      expect(renewed).toEqual(['token-2-for-secret-one', 'token-2-for-secret-one']);
      expect(wecom.calls).toHaveLength(2);
    }));

  it('both calling the same token bad cause one refetch', () =>
    inOrganization(async () => {
      const [a, b] = instances as [Instance, Instance];
      await Promise.all([settled(a), settled(b)]);
      const bad = await a.sut.getToken();
      await Promise.all([a.sut.invalidate(bad), b.sut.invalidate(bad)]);
      clock.advance(MIN_FETCH_INTERVAL_MS);
      const next = await Promise.all([a.sut.getToken(), b.sut.getToken()]);
      expect(next).toEqual(['token-2-for-secret-one', 'token-2-for-secret-one']);
      expect(wecom.calls).toHaveLength(2);
    }));
});

/** An organisation with its own WeCom app, as an operator and its admin would set it up. */
interface Tenant {
  scope: OrganizationScope;
  corpId: string;
  secret: string;
}

/** Creates the organisation and saves its WeCom app through RuntimeSettings, in its scope. */
async function addTenant(db: TestDatabase, instance: Instance, slug: string): Promise<Tenant> {
  const [{ id }]: { id: string }[] = await db.ownerQuery(
    `INSERT INTO organizations (slug, name) VALUES ($1, $1) RETURNING id`,
    [slug],
  );
  const tenant = { scope: { id, slug }, corpId: `ww-${slug}`, secret: `secret-of-${slug}` };
  await inOrganization(async () => {
    const { options } = await instance.runtime.current();
    await instance.runtime.save(
      {
        corpId: tenant.corpId,
        agentId: 1000002,
        corpSecret: tenant.secret,
        callbackToken: null,
        callbackAesKey: null,
        options,
      },
      { actor: 'admin', action: 'update', fields: ['corpId', 'corpSecret'], outcome: 'applied' },
    );
  }, tenant.scope);
  return tenant;
}

/** The stored access tokens of one organisation, read as the owner (no scope, no RLS). */
const tokenRowsOf = async (db: TestDatabase, organizationId: string) =>
  (await db.ownerQuery(
    `SELECT corp_id, value_fingerprint, fetched_at FROM wecom_credentials
      WHERE kind = 'access_token' AND organization_id = $1`,
    [organizationId],
  )) as { corp_id: string; value_fingerprint: string; fetched_at: Date }[];

describeWithServer(
  `${AccessTokenProvider.name} for several organisations (PostgreSQL server)`,
  () => {
    let db: TestDatabase;
    let clock: ManualClock;
    let wecom: FakeGetToken;
    let instances: Instance[] = [];

    beforeEach(async () => {
      db = await createTestDatabase();
      clock = new ManualClock(new Date(T0));
      wecom = new FakeGetToken(clock);
      instances = [await startInstance(db, clock, wecom)];
      instances.push(await startInstance(db, clock, wecom));
      await Promise.all(instances.map((i) => inOrganization(() => settled(i))));
    });

    afterEach(async () => {
      await Promise.all(instances.map((i) => i.close()));
      await db.drop();
    });

    it('N organisations asking at once on two instances cause exactly N gettoken calls, each with its own app', async () => {
      const [a, b] = instances as [Instance, Instance];
      const tenants: Tenant[] = [];
      for (let i = 1; i <= 6; i++) tenants.push(await addTenant(db, a, `org-${i}`));
      const before = wecom.calls.length;

      const asked = tenants.flatMap((t) =>
        [a, b, a, b].map((instance) =>
          inOrganization(async () => ({ t, token: await instance.sut.getToken() }), t.scope),
        ),
      );
      const answers = await Promise.all(asked);

      expect(wecom.calls.length - before).toBe(tenants.length);
      for (const t of tenants) {
        expect(wecom.callsFor(t.corpId)).toBe(1);
        const tokens = new Set(answers.filter((x) => x.t === t).map((x) => x.token));
        expect([...tokens]).toEqual([expect.stringMatching(new RegExp(`-for-${t.secret}$`))]);
        expect(await tokenRowsOf(db, t.scope.id)).toEqual([
          expect.objectContaining({ corp_id: t.corpId }),
        ]);
      }
    });

    it("refreshing one organisation's token leaves another's alone, in memory and stored", async () => {
      const [a, b] = instances as [Instance, Instance];
      const acme = await addTenant(db, a, 'acme');
      const globex = await addTenant(db, a, 'globex');
      const inAcme = <T>(work: () => Promise<T>) => inOrganization(work, acme.scope);
      const inGlobex = <T>(work: () => Promise<T>) => inOrganization(work, globex.scope);
      const acmeToken = await inAcme(() => a.sut.getToken());
      const globexToken = await inGlobex(() => b.sut.getToken());
      const globexRow = await tokenRowsOf(db, globex.scope.id);

      // Acme's token is called bad (40014): one refetch, for Acme's app only.
      await inAcme(() => a.sut.invalidate(acmeToken));
      clock.advance(MIN_FETCH_INTERVAL_MS);
      const renewed = await inAcme(() => a.sut.getToken());
      expect(renewed).not.toBe(acmeToken);
      expect(renewed).toMatch(/-for-secret-of-acme$/);
      expect(wecom.callsFor(globex.corpId)).toBe(1);
      expect(await inGlobex(() => a.sut.getToken())).toBe(globexToken);
      expect(await tokenRowsOf(db, globex.scope.id)).toEqual(globexRow);

      // The cron ahead of expiry, in Acme's scope: Globex's row is not touched either.
      clock.advance((LIFETIME_S - MARGIN_S) * S);
      expect(await inAcme(() => a.sut.refreshIfExpiring())).toBe(true);
      expect(wecom.callsFor(acme.corpId)).toBe(3);
      expect(wecom.callsFor(globex.corpId)).toBe(1);
      expect(await tokenRowsOf(db, globex.scope.id)).toEqual(globexRow);
    });

    it("WeCom refusing one organisation's secret pauses that organisation's calls only", async () => {
      const [a] = instances as [Instance];
      const acme = await addTenant(db, a, 'acme');
      const globex = await addTenant(db, a, 'globex');
      wecom.refuseSecret(acme.secret, 40001);

      await expect(inOrganization(() => a.sut.getToken(), acme.scope)).rejects.toMatchObject({
        errcode: 40001,
      });
      expect(await inOrganization(() => a.sut.getToken(), globex.scope)).toMatch(
        /-for-secret-of-globex$/,
      );
      // Acme waits out the pause without asking again; Globex's status is its own.
      await expect(inOrganization(() => a.sut.getToken(), acme.scope)).rejects.toMatchObject({
        errcode: 40001,
      });
      expect(wecom.callsFor(acme.corpId)).toBe(1);
      expect(a.sut.statusOf(acme.scope.id)).toMatchObject({
        status: 'misconfigured',
        errcode: 40001,
      });
      expect(a.sut.statusOf(globex.scope.id)).toMatchObject({ status: 'ok' });
    });

    it('the cron refreshes every active organisation (one call each across instances), none of a suspended one', async () => {
      const [a, b] = instances as [Instance, Instance];
      const acme = await addTenant(db, a, 'acme');
      const paused = await addTenant(db, a, 'paused');
      await db.ownerQuery(`UPDATE organizations SET status = 'suspended' WHERE id = $1`, [
        paused.scope.id,
      ]);
      const before = wecom.callsFor('ww-medium');

      await Promise.all([a.sut.refreshActiveOrganizations(), b.sut.refreshActiveOrganizations()]);
      expect(wecom.callsFor(acme.corpId)).toBe(1);
      expect(wecom.callsFor(paused.corpId)).toBe(0);
      // `default` already has a fresh token: nothing to do for it yet.
      expect(wecom.callsFor('ww-medium')).toBe(before);

      clock.advance((LIFETIME_S - MARGIN_S + 1) * S);
      await Promise.all([a.sut.refreshActiveOrganizations(), b.sut.refreshActiveOrganizations()]);
      expect(wecom.callsFor(acme.corpId)).toBe(2);
      expect(wecom.callsFor('ww-medium')).toBe(before + 1);
      expect(wecom.callsFor(paused.corpId)).toBe(0);
    });

    it('an organisation without a WeCom app asks WeCom nothing, and says so', async () => {
      const [a] = instances as [Instance];
      const [{ id }]: { id: string }[] = await db.ownerQuery(
        `INSERT INTO organizations (slug, name) VALUES ('bare', 'Bare') RETURNING id`,
      );
      const before = wecom.calls.length;
      await expect(
        inOrganization(() => a.sut.getToken(), { id, slug: 'bare' }),
      ).rejects.toMatchObject({ errcode: 41002 });
      expect(wecom.calls.length).toBe(before);
      expect(a.sut.statusOf(id)).toMatchObject({
        status: 'misconfigured',
        action: expect.stringMatching(/no WeCom app yet/),
      });
    });
  },
);

describe(`${AccessTokenProvider.name} without an organisation`, () => {
  it('refuses to pick one: no scope is an error, not the default', async () => {
    const db = await createTestDatabase();
    const instance = await startInstance(
      db,
      new ManualClock(new Date(T0)),
      new FakeGetToken(new ManualClock(new Date(T0))),
    );
    try {
      await expect(instance.sut.getToken()).rejects.toThrow(NoOrganizationScopeError);
      expect(() => instance.sut.status()).toThrow(NoOrganizationScopeError);
    } finally {
      await instance.close();
      await db.drop();
    }
  });
});
