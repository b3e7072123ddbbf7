import { randomUUID } from 'node:crypto';

import { Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

import { rowsInEveryTable } from '../../test/support/every-table.js';
import { inOrganization } from '../../test/support/in-organization.js';
import { LogRecorder } from '../../test/support/log-recorder.js';
import { sqlInOrganization } from '../../test/support/organization-sql.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/test-database.js';
import { ENTITIES } from '../entities.js';
import { MessagesRepository, type NewMessage } from '../messaging/messages.repository.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import type { CallbackEventRecord } from '../wecom/callback/callback-event.js';
import { WeComEventsRepository } from '../wecom/callback/wecom-events.repository.js';
import { WeComCredentialsRepository } from '../wecom/token/wecom-credentials.repository.js';
import { buildDataSourceOptions } from './database.options.js';
import { runMigrationsLocked } from './migration-runner.js';
import { MIGRATIONS } from './migrations/index.js';
import {
  ORGANIZATION_OWNED_TABLES,
  OrganizationColumns1764500000001,
} from './migrations/1764500000001-OrganizationColumns.js';
import { TransactionHost } from './transaction-host.js';

const quiet = { log: () => undefined } as unknown as Logger;
// The refused statements are logged by the query error logger: recorded, not printed.
const logs = new LogRecorder();
const DEFAULT_ID = DEFAULT_ORGANIZATION.id;
/** Tables that belong to no organisation (the migration says why). */
const SHARED_TABLES = ['migrations', 'organizations', 'rate_limit_counters', 'typeorm_metadata'];
/** TypeORM's own bookkeeping (the migrations run; generated columns' expressions): no rows of ours. */
const TYPEORM_TABLES = ['migrations', 'typeorm_metadata'];

/** Every table of the public schema. */
async function tables(m: EntityManager | DataSource): Promise<string[]> {
  const rows: { table_name: string }[] = await m.query(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  return rows.map((r) => r.table_name);
}

/**
 * Every row of every table (but TypeORM's own) as JSON, leaving out each table's columns that
 * `without` names: what must come through a migration unchanged.
 */
async function contents(
  m: DataSource,
  without: (table: string) => string[] = () => [],
): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of await tables(m)) {
    if (TYPEORM_TABLES.includes(table)) continue;
    const [{ rows }]: { rows: unknown[] }[] = await m.query(
      `SELECT coalesce(jsonb_agg(r ORDER BY r::text), '[]') AS rows
         FROM (SELECT to_jsonb(t) - $1::text[] AS r FROM ${table} t) AS j`,
      [without(table)],
    );
    out[table] = rows;
  }
  return out;
}

/** The columns OrganizationColumns adds (organization_id) or takes away (app_settings' id). */
const added = () => ['organization_id'];
const removed = (table: string) => (table === 'app_settings' ? ['id'] : []);

/** A DataSource that knows `migrations` only (so that it can stop short of ours). */
async function openDataSource(url: string, migrations: Function[]): Promise<DataSource> {
  return new DataSource({
    ...buildDataSourceOptions({ url, poolSize: 2, entities: ENTITIES }),
    migrations,
  }).initialize();
}

describe(OrganizationColumns1764500000001.name, () => {
  let db: TestDatabase;
  /** The owner: migrates, and reads every row behind the service's back. */
  let sut: DataSource;
  /** The service's role (the restricted one under TEST_APP_ROLE): writes as the service does. */
  let app: DataSource;
  /** What the tables held before the migration. */
  let before: Record<string, unknown[]>;

  beforeAll(async () => {
    Logger.overrideLogger(logs);
    db = await createTestDatabase();
    const ours = MIGRATIONS.indexOf(OrganizationColumns1764500000001);
    const earlier = await openDataSource(db.ownerUrl, MIGRATIONS.slice(0, ours));
    try {
      await runMigrationsLocked(earlier, quiet);
      for (const statement of rowsInEveryTable('ww-corp')) await earlier.query(statement);
      before = await contents(earlier, removed);
    } finally {
      await earlier.destroy();
    }
    // Up to ours: undoLastMigration below is ours (row-level security, the next one, is out of
    // the way here; organization-isolation.spec.ts covers it).
    sut = await openDataSource(db.ownerUrl, MIGRATIONS.slice(0, ours + 1));
    app = await new DataSource(
      buildDataSourceOptions({ url: db.url, poolSize: 2, entities: ENTITIES }),
    ).initialize();
  });

  afterAll(async () => {
    await app?.destroy();
    await sut?.destroy();
    await db?.drop();
    Logger.overrideLogger(true);
  });

  it('starts from rows in every table, so that none goes through the migration untested', () => {
    for (const [table, rows] of Object.entries(before)) {
      expect([table, rows.length > 0]).toEqual([table, true]);
    }
    expect(Object.keys(before).sort()).toEqual(
      [
        ...ORGANIZATION_OWNED_TABLES,
        ...SHARED_TABLES.filter((t) => !TYPEORM_TABLES.includes(t)),
      ].sort(),
    );
  });

  it('moves every row into default: same rows, same values, organization_id added', async () => {
    await runMigrationsLocked(sut, quiet);
    // app_settings' `id` (always 1) is gone: organization_id is its key now.
    expect(await contents(sut, added)).toEqual(before);

    for (const table of ORGANIZATION_OWNED_TABLES) {
      const counts: { organization_id: string; n: number }[] = await sut.query(
        `SELECT organization_id, count(*)::int AS n FROM ${table} GROUP BY 1`,
      );
      expect([table, counts]).toEqual([
        table,
        [{ organization_id: DEFAULT_ID, n: before[table].length }],
      ]);
    }
  });

  it('gives every table but the shared ones organization_id, NOT NULL, defaulting to the scope', async () => {
    const columns: { table_name: string; is_nullable: string; column_default: string }[] =
      await sut.query(
        `SELECT table_name, is_nullable, column_default FROM information_schema.columns
          WHERE table_schema = 'public' AND column_name = 'organization_id' ORDER BY table_name`,
      );
    const owned = (await tables(sut)).filter((t) => !SHARED_TABLES.includes(t));
    expect(owned).toEqual([...ORGANIZATION_OWNED_TABLES].sort());
    expect(columns).toEqual(
      owned.map((table_name) => ({
        table_name,
        is_nullable: 'NO',
        column_default: 'current_organization_id()',
      })),
    );
  });

  it('refuses an insert made without an organisation instead of placing it in one', async () => {
    await expect(
      app.query(
        `INSERT INTO oauth_states (nonce, redirect, created_at, expires_at)
         VALUES ('unscoped-nonce-000', '/x', now(), now())`,
      ),
    ).rejects.toThrow(/null value in column "organization_id" of relation "oauth_states"/);
  });

  describe('with a second organisation', () => {
    const other = randomUUID();
    let host: TransactionHost;

    /**
     * Runs `work` in a transaction of `organization`, as a scoped request or job does: the scope
     * names it, TransactionHost sets app.organization_id from it.
     */
    const inOrg = <T>(organization: string, work: () => Promise<T>): Promise<T> =>
      inOrganization(() => host.transaction(work), {
        id: organization,
        slug: organization === DEFAULT_ID ? 'default' : 'other',
      });

    const message = (key: string): NewMessage => ({
      corpId: 'ww-corp',
      agentId: 1000002,
      kind: 'test.notice',
      msgtype: 'text',
      content: { content: 'hi' },
      idempotencyKey: key,
      groupKey: null,
      status: 'queued',
      nextAttemptAt: new Date(),
      createdBy: 'recruiter-1',
      createdAt: new Date(),
      recipients: [{ platformUserId: 'u-1', wecomUserId: null, status: 'pending' }],
    });

    beforeAll(async () => {
      await sut.query(`INSERT INTO organizations (id, slug, name) VALUES ($1, 'other', 'Other')`, [
        other,
      ]);
      host = new TransactionHost(app);
    });

    it('the same platform user and WeCom member are mapped in both, but once in each', async () => {
      const map = (org: string, platformUserId: string, wecomUserId: string) =>
        sqlInOrganization(
          app,
          (m) =>
            m.query(
              `INSERT INTO user_mappings (corp_id, platform_user_id, wecom_user_id, source)
               VALUES ('ww-corp', $1, $2, 'admin')`,
              [platformUserId, wecomUserId],
            ),
          org,
        );
      // u-1 / Member1 are default's (moved by the migration).
      await map(other, 'u-1', 'Member1');
      await expect(map(DEFAULT_ID, 'u-1', 'someone-else')).rejects.toThrow(
        /user_mappings_platform_uq/,
      );
      await expect(map(other, 'u-99', 'MEMBER1')).rejects.toThrow(/user_mappings_wecom_uq/);
    });

    it("an idempotency key another organisation used sends, and says nothing of the other's", async () => {
      const messages = new MessagesRepository(host);
      const theirs = (await inOrg(other, () => messages.insertMany([message('key-1')]))).get(
        'key-1',
      );
      expect(theirs).toMatchObject({ status: 'queued' });
      // The retry in the same organisation is recognised as one...
      expect((await inOrg(other, () => messages.insertMany([message('key-1')]))).size).toBe(0);
      const found = await inOrg(other, () => messages.findByIdempotencyKeys(['key-1']));
      expect(found.get('key-1')).toMatchObject({ id: theirs!.id, organizationId: other });
      // ...and default's own key-1 (from before the migration) is its own.
      const ours = await inOrg(DEFAULT_ID, () => messages.findByIdempotencyKeys(['key-1']));
      expect(ours.get('key-1')!.id).not.toBe(theirs!.id);
      const [{ n }]: { n: number }[] = await sut.query(
        `SELECT count(*)::int AS n FROM message_recipients WHERE message_id = $1 AND organization_id = $2`,
        [theirs!.id, other],
      );
      expect(n).toBe(1);
    });

    it('a callback stored in one organisation is not a duplicate in another', async () => {
      const events = new WeComEventsRepository(host);
      const record: CallbackEventRecord = {
        dedupeKey: 'dedupe-1',
        msgType: 'event',
        event: 'template_card_event',
        fromUser: 'member1',
        agentId: 1000002,
        createTime: new Date(),
      };
      const stored = await inOrg(other, () =>
        events.insertUnlessSeen(record, '<xml/>', new Date()),
      );
      expect(stored).not.toBeNull();
      expect(
        await inOrg(other, () => events.insertUnlessSeen(record, '<xml/>', new Date())),
      ).toBeNull();
    });

    it('each organisation caches its own credential for the same app key', async () => {
      const credentials = new WeComCredentialsRepository(host);
      const key = { kind: 'access_token', corpId: 'ww-corp', agentId: 1000002 } as const;
      const issued = (value: string) => ({
        sealedValue: value,
        fingerprint: `fp-${value}`,
        fetchedAt: new Date(),
        expiresAt: new Date(Date.now() + 3_600_000),
        renewAt: new Date(Date.now() + 7_200_000),
      });
      await inOrg(other, () => credentials.store(key, issued('theirs-1')));
      await inOrg(other, () => credentials.store(key, issued('theirs-2')));
      const rows: { organization_id: string; value: string }[] = await sut.query(
        `SELECT organization_id, value FROM wecom_credentials WHERE kind = 'access_token' ORDER BY value`,
      );
      expect(rows).toEqual([
        { organization_id: DEFAULT_ID, value: 'sealed-1' },
        { organization_id: other, value: 'theirs-2' },
      ]);
    });

    it('one settings row per organisation, and a WeCom app configured for one of them only', async () => {
      const settings = (org: string, corpId: string) =>
        sqlInOrganization(
          app,
          (m) =>
            m.query(
              `INSERT INTO app_settings (version, sandbox, corp_id, agent_id, secrets, options, updated_at)
               VALUES (1, false, $1, 1000002, '{}', '{}', now())`,
              [corpId],
            ),
          org,
        );
      await expect(settings(DEFAULT_ID, 'ww-second-app')).rejects.toThrow(/PK_app_settings/);
      await expect(settings(other, 'ww-corp')).rejects.toThrow(/app_settings_corp_agent_key/);
      await settings(other, 'ww-other-corp');
    });

    it('a child row cannot sit in another organisation than its parent', async () => {
      const [{ id: messageId }]: { id: string }[] = await sut.query(
        `SELECT id FROM messages WHERE organization_id = $1 LIMIT 1`,
        [DEFAULT_ID],
      );
      const [{ id: interviewId }]: { id: string }[] = await sut.query(
        `SELECT id FROM interviews WHERE organization_id = $1 LIMIT 1`,
        [DEFAULT_ID],
      );
      const inOther = (sql: string, params: unknown[]) =>
        sqlInOrganization(app, (m) => m.query(sql, params), other);
      await expect(
        inOther(
          `INSERT INTO message_recipients (message_id, platform_user_id, status) VALUES ($1, 'u-1', 'pending')`,
          [messageId],
        ),
      ).rejects.toThrow(/message_recipients_message_id_fkey/);
      await expect(
        inOther(
          `INSERT INTO message_attempts (message_id, started_at, latency_ms, path, errmsg, recipient_count)
           VALUES ($1, now(), 1, '/x', 'ok', 1)`,
          [messageId],
        ),
      ).rejects.toThrow(/message_attempts_message_id_fkey/);
      await expect(
        inOther(
          `INSERT INTO interview_participants (interview_id, platform_user_id, role) VALUES ($1, 'u-77', 'observer')`,
          [interviewId],
        ),
      ).rejects.toThrow(/interview_participants_interview_id_fkey/);
      const [{ id: ownInterview }]: { id: string }[] = await inOther(
        `INSERT INTO interviews (title, candidate_name, starts_at, duration_minutes, room_url, created_by)
         VALUES ('t', 'c', now(), 60, 'https://x.test/r', 'u') RETURNING id`,
        [],
      );
      await expect(
        inOther(
          `INSERT INTO interview_reminders (interview_id, kind, lead_minutes, due_at, message_id)
           VALUES ($1, 'before_start', 15, now(), $2)`,
          [ownInterview, messageId],
        ),
      ).rejects.toThrow(/interview_reminders_message_id_fkey/);
    });

    it('a deleted message clears its reminder’s message_id and keeps the reminder', async () => {
      const [{ message_id: messageId }]: { message_id: string }[] = await sut.query(
        `SELECT message_id FROM interview_reminders WHERE message_id IS NOT NULL LIMIT 1`,
      );
      await sut.query(`DELETE FROM messages WHERE id = $1`, [messageId]);
      const reminders: { organization_id: string; message_id: string | null }[] = await sut.query(
        `SELECT organization_id, message_id FROM interview_reminders WHERE kind = 'before_start' AND lead_minutes = 15
           AND organization_id = $1`,
        [DEFAULT_ID],
      );
      expect(reminders).toHaveLength(10);
      expect(reminders.every((r) => r.message_id === null)).toBe(true);
    });

    it('refuses to go back while another organisation has rows, and changes nothing', async () => {
      await expect(sut.undoLastMigration({ transaction: 'each' })).rejects.toThrow(
        /Cannot revert OrganizationColumns: \w+ holds rows of organisations other than default/,
      );
      const [{ n }]: { n: number }[] = await sut.query(
        `SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'organization_id'`,
      );
      expect(n).toBe(ORGANIZATION_OWNED_TABLES.length);
    });
  });

  it('goes back to the schema and rows it started from, and forward again', async () => {
    for (const table of [...ORGANIZATION_OWNED_TABLES].reverse()) {
      await sut.query(`DELETE FROM ${table} WHERE organization_id <> $1`, [DEFAULT_ID]);
    }
    // The earlier tests changed rows (a message deleted, its reminder kept): the round trip is
    // compared with what is there now.
    const kept = await contents(sut, added);
    await sut.undoLastMigration({ transaction: 'each' });
    expect(await contents(sut, removed)).toEqual(kept);
    expect(await sut.query('SELECT id FROM app_settings')).toEqual([{ id: 1 }]);
    await expect(
      sut.query(`SELECT 1 FROM pg_proc WHERE proname = 'current_organization_id'`),
    ).resolves.toEqual([]);

    await runMigrationsLocked(sut, quiet);
    expect(await contents(sut, added)).toEqual(kept);
    for (const table of ORGANIZATION_OWNED_TABLES) {
      const [{ n }]: { n: number }[] = await sut.query(
        `SELECT count(*)::int AS n FROM ${table} WHERE organization_id <> $1`,
        [DEFAULT_ID],
      );
      expect([table, n]).toEqual([table, 0]);
    }
    // The migrations after ours, then nothing left between the entities and the schema.
    const all = await openDataSource(db.ownerUrl, MIGRATIONS);
    try {
      await runMigrationsLocked(all, quiet);
      const schema = await all.driver.createSchemaBuilder().log();
      expect(schema.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      await all.destroy();
    }
  });
});
