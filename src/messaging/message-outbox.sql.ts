/**
 * The dispatcher's large statements on the outbox, run by MessageOutboxRepository (which
 * documents what each does); here each lists its parameters.
 */

/**
 * The organisation of the transaction (TransactionHost sets it from the scope). Row-level
 * security filters on the same expression; statements that must not see another organisation's
 * rows state it as well, so that they are right even where RLS does not bind (a superuser), and
 * so that the `(organization_id, …)` indexes serve them.
 */
const SCOPE = `nullif(current_setting('app.organization_id', true), '')::uuid`;

/**
 * $1 now, $2 lease until, $3 leased by (instance id), $4 limit. Claims in the transaction's
 * organisation only.
 */
export const CLAIM_DUE = `
  WITH picked AS (
    SELECT id, group_key FROM messages
     WHERE organization_id = ${SCOPE}
       AND status IN ('queued', 'sending') AND next_attempt_at <= $1
     ORDER BY next_attempt_at
     LIMIT $4
     FOR UPDATE SKIP LOCKED
  ), siblings AS (
    SELECT id FROM messages
     WHERE organization_id = ${SCOPE}
       AND group_key IN (SELECT group_key FROM picked WHERE group_key IS NOT NULL)
       AND status IN ('queued', 'sending') AND next_attempt_at <= $1
       AND id NOT IN (SELECT id FROM picked)
     LIMIT $4
     FOR UPDATE SKIP LOCKED
  )
  UPDATE messages m
     SET status = 'sending', lease_until = $2, next_attempt_at = $2, leased_by = $3,
         attempts = m.attempts + 1, updated_at = $1
   WHERE m.id IN (SELECT id FROM picked UNION ALL SELECT id FROM siblings)
   RETURNING m.id, m.organization_id, m.corp_id, m.attempts, m.kind, m.msgtype, m.agent_id, m.content`;

/**
 * $1 message ids, $2 now. The `locks` CTE takes the advisory locks of the candidates' members in
 * a fixed order; the final SELECT depends on it so that it runs. A member is named by corp and
 * userid: userids are unique within a corp only, so the same userid in two organisations' corps
 * is two people with two budgets, and their deliveries do not wait for each other. The corp comes
 * from the message row, never from a session setting that could be unset (a NULL key would take
 * no lock at all).
 */
export const LOCK_OPEN_RECIPIENTS = `
  WITH open AS (
    SELECT r.id, r.message_id, r.wecom_user_id, r.status, r.send_key, m.corp_id,
           r.status <> 'sending' AND (r.not_before IS NULL OR r.not_before <= $2) AS candidate
      FROM message_recipients r JOIN messages m ON m.id = r.message_id
     WHERE r.message_id = ANY($1::uuid[]) AND r.status IN ('pending', 'sending', 'rate_limited')
  ), locks AS (
    SELECT count(*) AS n FROM (
      SELECT pg_advisory_xact_lock(hashtext('wecom-member:' || corp_id || ':' || u)) FROM (
        SELECT DISTINCT corp_id, lower(wecom_user_id) AS u FROM open WHERE candidate ORDER BY 1, 2
      ) AS members
    ) AS taken
  )
  SELECT id, message_id, wecom_user_id, status, send_key FROM open
   WHERE status = 'sending' OR (candidate AND (SELECT n FROM locks) >= 0)
   ORDER BY id`;

/**
 * $1 candidate recipient ids and $2 their members (lower-cased), in order; $3 the distinct
 * members; $4 now; $5 budget per minute; $6 budget per hour. A member over a window waits until
 * a second after the oldest send leaves it; the later of the full windows decides. The sends
 * counted are the transaction's organisation's: its one WeCom app's, which WeCom budgets.
 *
 * The sends are counted member by member, on the stored lower-cased userid (migration
 * RecipientPacingColumn): `lower(wecom_user_id) = …` never reaches an index under row-level
 * security, and with `= ANY($3)` and statistics that lag a bulk of new rows the planner used the
 * index for the organisation and the hour only. Either way each reservation read every send of
 * the organisation's last hour and slowed as a backlog was delivered (5 s per reservation with
 * 27,000 sends, as the service's role; scenario 5 fell from 468 to 152 deliveries a second with
 * 50,000 queued).
 */
export const SPEND_MEMBER_SLOTS = `
  WITH cand AS (
    SELECT id, member, n FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS c(id, member, n)
  ), used AS (
    SELECT mem.member, u.minute, u.oldest_minute, u.hour, u.oldest_hour
      FROM unnest($3::text[]) AS mem(member)
     CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE last_attempt_at > $4::timestamptz - interval '1 minute') AS minute,
              min(last_attempt_at) FILTER (WHERE last_attempt_at > $4::timestamptz - interval '1 minute') AS oldest_minute,
              count(*) AS hour, min(last_attempt_at) AS oldest_hour
         FROM message_recipients
        WHERE organization_id = ${SCOPE}
          AND wecom_user_id_lower = mem.member AND status IN ('sending', 'delivered')
          AND last_attempt_at > $4::timestamptz - interval '1 hour'
     ) AS u
  ), ranked AS (
    SELECT c.id, COALESCE(u.oldest_minute, $4) AS oldest_minute,
           COALESCE(u.oldest_hour, $4) AS oldest_hour,
           COALESCE(u.minute, 0) + row_number() OVER w AS nth_minute,
           COALESCE(u.hour, 0) + row_number() OVER w AS nth_hour
      FROM cand c LEFT JOIN used u ON u.member = c.member
    WINDOW w AS (PARTITION BY c.member ORDER BY c.n)
  ), decided AS (
    SELECT id, nth_minute <= $5 AND nth_hour <= $6 AS go,
           GREATEST(
             CASE WHEN nth_minute > $5 THEN oldest_minute + interval '61 seconds' END,
             CASE WHEN nth_hour > $6 THEN oldest_hour + interval '3601 seconds' END
           ) AS wait_until
      FROM ranked
  )
  UPDATE message_recipients r
     SET status = CASE WHEN k.go THEN 'sending' ELSE 'rate_limited' END,
         last_attempt_at = CASE WHEN k.go THEN $4 ELSE r.last_attempt_at END,
         not_before = CASE WHEN k.go THEN NULL ELSE k.wait_until END
    FROM decided k
   WHERE r.id = k.id
   RETURNING r.id, r.status`;

/** $1 leased by, $2 now; $3 messages, $4 attempts, $5 recipients: JSON arrays of rows. */
export const SAVE_OUTCOMES = `
  WITH m AS (
    SELECT * FROM jsonb_to_recordset($3::jsonb)
      AS m(id uuid, attempts int, retry_at timestamptz, errcode int, errmsg text, held boolean)
  ), o AS (
    SELECT * FROM jsonb_to_recordset($5::jsonb)
      AS o(id bigint, status text, msgid text, code text, delivered_at timestamptz)
  ), logged AS (
    INSERT INTO message_attempts
           (message_id, started_at, latency_ms, path, errcode, errmsg, http_status, recipient_count)
    SELECT * FROM jsonb_to_recordset($4::jsonb)
      AS a(message_id uuid, started_at timestamptz, latency_ms int, path text, errcode int,
           errmsg text, http_status int, recipient_count int)
  ), ours AS (
    SELECT msg.id FROM messages msg JOIN m ON m.id = msg.id AND m.attempts = msg.attempts
     WHERE msg.leased_by = $1 AND msg.status = 'sending'
     FOR UPDATE OF msg
  ), fates AS (
    UPDATE message_recipients r
       SET status = o.status, wecom_msgid = COALESCE(o.msgid, r.wecom_msgid),
           response_code = COALESCE(o.code, r.response_code), delivered_at = o.delivered_at
      FROM o
     WHERE r.id = o.id AND r.message_id IN (SELECT id FROM ours)
  ), now_r AS (
    SELECT r.message_id, COALESCE(o.status, r.status) AS status, r.not_before,
           COALESCE(o.msgid, r.wecom_msgid) AS msgid, COALESCE(o.code, r.response_code) AS code
      FROM message_recipients r LEFT JOIN o ON o.id = r.id
     WHERE r.message_id IN (SELECT id FROM ours)
  ), counts AS (
    SELECT message_id AS id,
           count(*) FILTER (WHERE status IN ('pending', 'sending', 'rate_limited')) AS waiting,
           count(*) FILTER (WHERE status IN ('pending', 'sending')) AS unsent,
           count(*) FILTER (WHERE status = 'delivered') AS delivered,
           count(*) AS total,
           min(not_before) FILTER (WHERE status = 'rate_limited') AS paced,
           COALESCE(min(msgid) FILTER (WHERE status = 'delivered'), min(msgid)) AS msgid,
           COALESCE(min(code) FILTER (WHERE status = 'delivered'), min(code)) AS code
      FROM now_r GROUP BY message_id
  ), settled AS (
    SELECT m.id, m.retry_at, m.errcode, m.errmsg, m.held, c.paced, c.unsent, c.msgid, c.code,
           CASE WHEN COALESCE(c.waiting, 0) > 0 THEN 'queued'
                WHEN COALESCE(c.delivered, 0) = COALESCE(c.total, 0) THEN 'sent'
                WHEN c.delivered > 0 THEN 'partially_sent'
                ELSE 'failed' END AS status
      FROM m JOIN ours ON ours.id = m.id LEFT JOIN counts c ON c.id = m.id
  )
  UPDATE messages msg
     SET status = s.status,
         next_attempt_at = CASE WHEN s.status <> 'queued' THEN NULL
                                WHEN s.unsent > 0 THEN s.retry_at
                                ELSE COALESCE(s.paced, s.retry_at) END,
         lease_until = NULL, leased_by = NULL,
         -- waiting for credentials is not an attempt of the message's own
         attempts = CASE WHEN s.held THEN msg.attempts - 1 ELSE msg.attempts END,
         last_errcode = s.errcode, last_errmsg = s.errmsg,
         wecom_msgid = s.msgid, response_code = s.code,
         sent_at = CASE WHEN s.status IN ('sent', 'partially_sent') THEN $2::timestamptz END,
         updated_at = $2
    FROM settled s
   WHERE msg.id = s.id
   RETURNING msg.id, msg.status, msg.next_attempt_at`;
