import { Injectable } from '@nestjs/common';

import { TransactionHost } from '../database/transaction-host.js';
import type { ParticipantRole } from './interview-participant.entity.js';

export interface RecentParticipant {
  platformUserId: string;
  /** Interviews (not cancelled) they take part in that start at or after `since`. */
  interviewCount: number;
  /** Their next interview, or their latest when none is upcoming: the one to fix first. */
  interviewId: string;
  title: string;
  startsAt: Date;
  role: ParticipantRole;
}

/**
 * Everyone taking part in an interview that starts at or after $1 and is not cancelled, one row
 * each with their next interview after $3 (or their latest, when none is upcoming); the window
 * counts before DISTINCT ON keeps one row.
 */
const RECENT_PARTICIPANTS_SQL = `
  SELECT DISTINCT ON (p.platform_user_id)
         p.platform_user_id, p.role, i.id AS interview_id, i.title, i.starts_at,
         count(*) OVER (PARTITION BY p.platform_user_id)::int AS interview_count
    FROM interview_participants p
    JOIN interviews i ON i.id = p.interview_id
   WHERE i.starts_at >= $1 AND i.status <> 'canceled'
   ORDER BY p.platform_user_id, (i.starts_at >= $3) DESC,
            CASE WHEN i.starts_at >= $3 THEN i.starts_at END ASC, i.starts_at DESC
   LIMIT $2`;

/** The participants of recent and upcoming interviews, for the console's "who is unmapped". */
@Injectable()
export class RecentParticipantsRepository {
  constructor(private readonly db: TransactionHost) {}

  async since(since: Date, now: Date, limit: number): Promise<RecentParticipant[]> {
    const rows = await this.db.run(
      (m) =>
        m.query(RECENT_PARTICIPANTS_SQL, [since, limit, now]) as Promise<
          {
            platform_user_id: string;
            role: ParticipantRole;
            interview_id: string;
            title: string;
            starts_at: Date | string;
            interview_count: number;
          }[]
        >,
    );
    return rows.map((r) => ({
      platformUserId: r.platform_user_id,
      role: r.role,
      interviewId: r.interview_id,
      title: r.title,
      startsAt: new Date(r.starts_at),
      interviewCount: Number(r.interview_count),
    }));
  }
}
