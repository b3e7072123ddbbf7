/**
 * Rows in every table, several per table and with children under their parents, for specs that
 * must see each table hold something (a migration's row counts, row-level security per table).
 * Each statement reads only the rows it wrote (by corp), so that it can run again for
 * another organisation on a connection that sees every row. Written so that they fit the schema both before OrganizationColumns (no organization_id,
 * app_settings' single row) and after it, where they go to the organisation the transaction set
 * (the column default). `corp` is the WeCom corp they name: a WeCom app is one organisation's, so
 * two organisations' rows need two corps. `corp` must be a plain identifier (it is inlined).
 */
export function rowsInEveryTable(corp: string): string[] {
  if (!/^[a-z0-9-]+$/.test(corp)) throw new Error(`not a plain corp id: ${corp}`);
  return [
    `INSERT INTO wecom_credentials (kind, corp_id, agent_id, value, value_fingerprint, expires_at, renew_at, fetched_at)
   VALUES ('access_token', '${corp}', 1000002, 'sealed-1', 'fp-1', now() + interval '1 hour', now() + interval '2 hours', now()),
          ('jsapi_corp_ticket', '${corp}', 1000002, 'sealed-2', 'fp-2', now() + interval '1 hour', now() + interval '2 hours', now())`,
    `INSERT INTO user_mappings (corp_id, platform_user_id, wecom_user_id, source, status)
   SELECT '${corp}', 'u-' || g, 'Member' || g, 'admin', CASE WHEN g % 5 = 0 THEN 'left' ELSE 'active' END
     FROM generate_series(1, 20) g`,
    `INSERT INTO messages (corp_id, agent_id, kind, msgtype, content, idempotency_key, group_key, status, next_attempt_at)
   SELECT '${corp}', 1000002, 'test.notice', 'text', jsonb_build_object('content', 'hello ' || g), 'key-' || g,
          'group-' || (g % 4), CASE WHEN g % 3 = 0 THEN 'sent' ELSE 'queued' END, now() + g * interval '1 minute'
     FROM generate_series(1, 30) g`,
    `INSERT INTO message_recipients (message_id, platform_user_id, wecom_user_id, status, last_attempt_at)
   SELECT m.id, 'u-' || k, 'member' || k, CASE WHEN m.status = 'sent' THEN 'delivered' ELSE 'pending' END, now()
     FROM messages m, generate_series(1, 3) k WHERE m.corp_id = '${corp}'`,
    `INSERT INTO message_attempts (message_id, started_at, latency_ms, path, errcode, errmsg, recipient_count)
   SELECT id, now(), 12, '/cgi-bin/message/send', 0, 'ok', 3 FROM messages WHERE status = 'sent' AND corp_id = '${corp}'`,
    `INSERT INTO interviews (title, candidate_name, starts_at, duration_minutes, room_url, created_by)
   SELECT '面试 ' || g, '候选人 ' || g, now() + g * interval '1 day', 60, 'https://www.showmebug.com/pads/P' || g, 'recruiter@${corp}'
     FROM generate_series(1, 10) g`,
    `INSERT INTO interview_participants (interview_id, platform_user_id, role)
   SELECT i.id, 'u-' || k, CASE WHEN k = 1 THEN 'interviewer' ELSE 'observer' END
     FROM interviews i, generate_series(1, 2) k WHERE i.created_by = 'recruiter@${corp}'`,
    `INSERT INTO interview_reminders (interview_id, kind, lead_minutes, due_at, state, message_id)
   SELECT i.id, 'before_start', l, i.starts_at - l * interval '1 minute',
          CASE WHEN l = 15 THEN 'sent' ELSE 'pending' END,
          CASE WHEN l = 15 THEN (SELECT id FROM messages WHERE corp_id = '${corp}' ORDER BY idempotency_key LIMIT 1) END
     FROM interviews i, (VALUES (15), (1440)) AS lead(l) WHERE i.created_by = 'recruiter@${corp}'`,
    `INSERT INTO wecom_events (dedupe_key, msg_type, event, from_user, agent_id, create_time, body, received_at)
   SELECT 'dedupe-' || g, 'event', 'template_card_event', 'member' || g, 1000002, now(), '<xml/>', now()
     FROM generate_series(1, 5) g`,
    `INSERT INTO oauth_states (nonce, redirect, created_at, expires_at)
   SELECT '${corp}-' || repeat('n', 16) || g, '/after', now(), now() + interval '10 minutes' FROM generate_series(1, 3) g`,
    `INSERT INTO app_settings (version, sandbox, corp_id, agent_id, secrets, options, updated_at)
   VALUES (3, true, '${corp}', 1000002, '{"corpSecret": "sealed"}', '{"defaultLanguage": "zh"}', now())`,
    `INSERT INTO config_audit (at, actor, action, fields, outcome, version)
   SELECT now(), 'system', 'seed', ARRAY['*'], 'applied', g FROM generate_series(1, 3) g`,
    `INSERT INTO rate_limit_counters (key, started_at, count) VALUES ('ip:127.0.0.1:${corp}', 0, 1)`,
  ];
}
