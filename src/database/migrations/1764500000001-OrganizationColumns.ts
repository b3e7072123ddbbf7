import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The `default` organisation (1764500000000-Organizations): every existing row is moved into it. */
const DEFAULT_ORGANIZATION_ID = '00000000-0000-0000-0000-000000000001';

/**
 * Every organisation-owned table, parents before children. Not here, on purpose:
 * - `organizations`: the directory itself; requests and jobs read it before they have a scope.
 * - `rate_limit_counters`: counts requests before they are authenticated, so before they have an
 *   organisation; a key that is one organisation's says so itself (docs/design/organisations.md).
 * - `migrations`: TypeORM's record of this schema, one for the whole database.
 */
export const ORGANIZATION_OWNED_TABLES = [
  'wecom_credentials',
  'user_mappings',
  'messages',
  'message_recipients',
  'message_attempts',
  'interviews',
  'interview_participants',
  'interview_reminders',
  'wecom_events',
  'oauth_states',
  'app_settings',
  'config_audit',
] as const;

/**
 * Children reach `organizations` through their parent's composite key (organization_id, id), which
 * also keeps a child in its parent's organisation; a direct foreign key would only add a second
 * check and a lock on the organisation's row to every insert.
 */
const CHILD_TABLES = new Set<string>([
  'message_recipients',
  'message_attempts',
  'interview_participants',
  'interview_reminders',
]);

/**
 * Every organisation-owned table gets `organization_id`, moved into `default`, and keys per
 * organisation (docs/design/organisations.md, section 3). Row-level security comes later.
 *
 * - The column is added with the default organisation's id as a constant default: PostgreSQL
 *   records that value once instead of rewriting every row (an UPDATE of each row would rewrite
 *   the largest tables under an exclusive lock), and NOT NULL holds at once. The default then
 *   becomes `current_organization_id()`, the transaction's `app.organization_id` (set by
 *   TransactionHost), so inserts need not name the column, and an insert with no organisation
 *   set fails on NOT NULL instead of landing somewhere.
 * - Unique keys become per organisation: a global one would be checked against rows row-level
 *   security hides, and `ON CONFLICT DO NOTHING` with another company's idempotency key would
 *   tell that it is in use.
 * - Children reference `(organization_id, parent_id)`, so a message's recipients, an interview's
 *   participants and a reminder's message can never sit in another organisation than their parent.
 *   Their own keys that start with the parent's id (a participant per interview, a reminder per
 *   interview, kind and lead time) stay as they are: the parent's generated id already belongs to
 *   one organisation, so they are per organisation, and the scheduler's lookups by interview id
 *   keep their index.
 * - The indexes the scheduled claims range over (due messages, due reminders, a member's recent
 *   sends, the audit trail, interviews by start) lead with organization_id: each organisation's
 *   claim reads its own part of the index.
 * - `app_settings` holds one row per organisation (its primary key), and a WeCom app (corp id and
 *   agent id) belongs to one organisation only.
 */
export class OrganizationColumns1764500000001 implements MigrationInterface {
  name = 'OrganizationColumns1764500000001';

  async up(q: QueryRunner): Promise<void> {
    // `nullif`: a session that has set the variable once reads '' afterwards, not NULL
    // (src/database/row-level-security.spec.ts); ''::uuid would raise instead of reading "none".
    await q.query(`
      CREATE FUNCTION current_organization_id() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT nullif(current_setting('app.organization_id', true), '')::uuid $$`);

    for (const table of ORGANIZATION_OWNED_TABLES) {
      await q.query(
        `ALTER TABLE ${table} ADD COLUMN organization_id uuid NOT NULL DEFAULT '${DEFAULT_ORGANIZATION_ID}'`,
      );
      await q.query(
        `ALTER TABLE ${table} ALTER COLUMN organization_id SET DEFAULT current_organization_id()`,
      );
      if (!CHILD_TABLES.has(table)) {
        await q.query(
          `ALTER TABLE ${table} ADD CONSTRAINT ${table}_organization_id_fkey
             FOREIGN KEY (organization_id) REFERENCES organizations (id)`,
        );
      }
    }

    await q.query(`
      ALTER TABLE wecom_credentials
        DROP CONSTRAINT wecom_credentials_pkey,
        ADD CONSTRAINT wecom_credentials_pkey PRIMARY KEY (organization_id, kind, corp_id, agent_id)`);

    await q.query('DROP INDEX user_mappings_platform_uq');
    await q.query(
      'CREATE UNIQUE INDEX user_mappings_platform_uq ON user_mappings (organization_id, corp_id, platform_user_id)',
    );
    await q.query('DROP INDEX user_mappings_wecom_uq');
    await q.query(
      'CREATE UNIQUE INDEX user_mappings_wecom_uq ON user_mappings (organization_id, corp_id, lower(wecom_user_id))',
    );

    await q.query(
      'ALTER TABLE messages ADD CONSTRAINT messages_organization_id_id_key UNIQUE (organization_id, id)',
    );
    await q.query('DROP INDEX messages_idempotency_uq');
    await q.query(
      'CREATE UNIQUE INDEX messages_idempotency_uq ON messages (organization_id, idempotency_key)',
    );
    await q.query('DROP INDEX messages_due_idx');
    await q.query(
      `CREATE INDEX messages_due_idx ON messages (organization_id, next_attempt_at)
        WHERE status IN ('queued', 'sending')`,
    );
    for (const child of ['message_recipients', 'message_attempts']) {
      await q.query(`
        ALTER TABLE ${child}
          DROP CONSTRAINT ${child}_message_id_fkey,
          ADD CONSTRAINT ${child}_message_id_fkey FOREIGN KEY (organization_id, message_id)
            REFERENCES messages (organization_id, id) ON DELETE CASCADE`);
    }
    await q.query('DROP INDEX message_recipients_pacing_idx');
    await q.query(
      `CREATE INDEX message_recipients_pacing_idx
         ON message_recipients (organization_id, lower(wecom_user_id), last_attempt_at)
       WHERE status IN ('sending', 'delivered')`,
    );

    await q.query(
      'ALTER TABLE interviews ADD CONSTRAINT interviews_organization_id_id_key UNIQUE (organization_id, id)',
    );
    await q.query('DROP INDEX interviews_starts_idx');
    await q.query('CREATE INDEX interviews_starts_idx ON interviews (organization_id, starts_at)');
    for (const child of ['interview_participants', 'interview_reminders']) {
      await q.query(`
        ALTER TABLE ${child}
          DROP CONSTRAINT ${child}_interview_id_fkey,
          ADD CONSTRAINT ${child}_interview_id_fkey FOREIGN KEY (organization_id, interview_id)
            REFERENCES interviews (organization_id, id) ON DELETE CASCADE`);
    }
    // A deleted message clears message_id alone: organization_id is the reminder's own.
    await q.query(`
      ALTER TABLE interview_reminders
        DROP CONSTRAINT interview_reminders_message_id_fkey,
        ADD CONSTRAINT interview_reminders_message_id_fkey FOREIGN KEY (organization_id, message_id)
          REFERENCES messages (organization_id, id) ON DELETE SET NULL (message_id)`);
    await q.query('DROP INDEX interview_reminders_due_idx');
    await q.query(
      `CREATE INDEX interview_reminders_due_idx ON interview_reminders (organization_id, due_at)
        WHERE state = 'pending'`,
    );

    await q.query('DROP INDEX wecom_events_dedupe_uq');
    await q.query(
      'CREATE UNIQUE INDEX wecom_events_dedupe_uq ON wecom_events (organization_id, dedupe_key)',
    );

    await q.query(`
      ALTER TABLE app_settings
        DROP CONSTRAINT app_settings_single_row,
        DROP CONSTRAINT "PK_app_settings",
        DROP COLUMN id`);
    await q.query(`
      ALTER TABLE app_settings
        ADD CONSTRAINT "PK_app_settings" PRIMARY KEY (organization_id),
        ADD CONSTRAINT app_settings_corp_agent_key UNIQUE (corp_id, agent_id)`);

    await q.query('DROP INDEX config_audit_at_idx');
    await q.query('CREATE INDEX config_audit_at_idx ON config_audit (organization_id, at, id)');
  }

  async down(q: QueryRunner): Promise<void> {
    // One organisation's schema cannot hold two companies' rows (their keys may collide, and
    // nothing would tell them apart): going back is refused rather than merging them.
    for (const table of ORGANIZATION_OWNED_TABLES) {
      const [{ other }]: { other: boolean }[] = await q.query(
        `SELECT EXISTS (SELECT 1 FROM ${table} WHERE organization_id <> '${DEFAULT_ORGANIZATION_ID}') AS other`,
      );
      if (other) {
        throw new Error(
          `Cannot revert OrganizationColumns: ${table} holds rows of organisations other than default`,
        );
      }
    }

    await q.query('DROP INDEX config_audit_at_idx');
    await q.query('CREATE INDEX config_audit_at_idx ON config_audit (at, id)');

    await q.query(`
      ALTER TABLE app_settings
        DROP CONSTRAINT app_settings_corp_agent_key,
        DROP CONSTRAINT "PK_app_settings",
        ADD COLUMN id smallint NOT NULL DEFAULT 1`);
    await q.query(`
      ALTER TABLE app_settings
        ADD CONSTRAINT "PK_app_settings" PRIMARY KEY (id),
        ADD CONSTRAINT app_settings_single_row CHECK (id = 1)`);

    await q.query('DROP INDEX wecom_events_dedupe_uq');
    await q.query('CREATE UNIQUE INDEX wecom_events_dedupe_uq ON wecom_events (dedupe_key)');

    await q.query('DROP INDEX interview_reminders_due_idx');
    await q.query(
      `CREATE INDEX interview_reminders_due_idx ON interview_reminders (due_at) WHERE state = 'pending'`,
    );
    await q.query(`
      ALTER TABLE interview_reminders
        DROP CONSTRAINT interview_reminders_message_id_fkey,
        ADD CONSTRAINT interview_reminders_message_id_fkey FOREIGN KEY (message_id)
          REFERENCES messages (id) ON DELETE SET NULL`);
    for (const child of ['interview_participants', 'interview_reminders']) {
      await q.query(`
        ALTER TABLE ${child}
          DROP CONSTRAINT ${child}_interview_id_fkey,
          ADD CONSTRAINT ${child}_interview_id_fkey FOREIGN KEY (interview_id)
            REFERENCES interviews (id) ON DELETE CASCADE`);
    }
    await q.query('DROP INDEX interviews_starts_idx');
    await q.query('CREATE INDEX interviews_starts_idx ON interviews (starts_at)');
    await q.query('ALTER TABLE interviews DROP CONSTRAINT interviews_organization_id_id_key');

    await q.query('DROP INDEX message_recipients_pacing_idx');
    await q.query(
      `CREATE INDEX message_recipients_pacing_idx ON message_recipients (lower(wecom_user_id), last_attempt_at)
       WHERE status IN ('sending', 'delivered')`,
    );
    for (const child of ['message_recipients', 'message_attempts']) {
      await q.query(`
        ALTER TABLE ${child}
          DROP CONSTRAINT ${child}_message_id_fkey,
          ADD CONSTRAINT ${child}_message_id_fkey FOREIGN KEY (message_id)
            REFERENCES messages (id) ON DELETE CASCADE`);
    }
    await q.query('DROP INDEX messages_due_idx');
    await q.query(
      `CREATE INDEX messages_due_idx ON messages (next_attempt_at) WHERE status IN ('queued', 'sending')`,
    );
    await q.query('DROP INDEX messages_idempotency_uq');
    await q.query('CREATE UNIQUE INDEX messages_idempotency_uq ON messages (idempotency_key)');
    await q.query('ALTER TABLE messages DROP CONSTRAINT messages_organization_id_id_key');

    await q.query('DROP INDEX user_mappings_wecom_uq');
    await q.query(
      'CREATE UNIQUE INDEX user_mappings_wecom_uq ON user_mappings (corp_id, lower(wecom_user_id))',
    );
    await q.query('DROP INDEX user_mappings_platform_uq');
    await q.query(
      'CREATE UNIQUE INDEX user_mappings_platform_uq ON user_mappings (corp_id, platform_user_id)',
    );

    await q.query(`
      ALTER TABLE wecom_credentials
        DROP CONSTRAINT wecom_credentials_pkey,
        ADD CONSTRAINT wecom_credentials_pkey PRIMARY KEY (kind, corp_id, agent_id)`);

    // Its foreign key and any index left on it go with the column.
    for (const table of [...ORGANIZATION_OWNED_TABLES].reverse()) {
      await q.query(`ALTER TABLE ${table} DROP COLUMN organization_id`);
    }
    await q.query('DROP FUNCTION current_organization_id()');
  }
}
