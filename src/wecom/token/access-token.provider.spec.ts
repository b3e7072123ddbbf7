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
import { testEnv } from '../../../test/support/test-app.js';
import { Clock, ManualClock } from '../../common/clock.js';
import type { AppConfigService } from '../../config/app-config.js';
import { TransactionHost } from '../../database/transaction-host.js';
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
import { inOrganization } from '../../../test/support/in-organization.js';

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

  refuseNext(errcode: number): void {
    this.refusals.push(errcode);
  }

  async fetchAccessToken(creds: WeComCredentials): Promise<GetTokenResponse> {
    this.calls.push({ ...creds });
    // The answer takes a moment, during which the others queue on the lock.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const errcode = this.refusals.shift();
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
    entities: [AppSettingsEntity, ConfigAuditEntity, WeComCredentialEntity],
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
      OrganizationsService,
      OrganizationsRepository,
      SettingsRepository,
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
            credentials: () => {
              const { corpId, corpSecret, agentId } = runtime.current();
              return { corpId, corpSecret, agentId };
            },
          }) as WeComSettings,
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

      const { corpId, agentId, callbackToken, callbackAesKey, options } = runtime.current();
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
      const current = runtime.current();
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
