import { Injectable } from '@nestjs/common';

import {
  CURRENT_ORGANIZATION_ID,
  inCurrentOrganization,
} from '../../database/organization-column.js';
import { TransactionHost } from '../../database/transaction-host.js';
import type { CallbackEventRecord } from './callback-event.js';
import { WeComEventEntity } from './wecom-event.entity.js';

/**
 * The `wecom_events` table: the callbacks WeCom sent us, stored once each. Every statement is for
 * the transaction's organisation and names it: row-level security filters them too, but a sweep
 * in one organisation must never pick up another's events, whatever role the service runs as.
 */
@Injectable()
export class WeComEventsRepository {
  constructor(private readonly db: TransactionHost) {}

  /**
   * Stores a decrypted callback in the transaction's organisation; its row id, or null when WeCom
   * had already sent it there (a retry: the dedupe key, unique per organisation, makes the insert
   * a no-op, so it is acknowledged but not run twice).
   */
  async insertUnlessSeen(
    record: CallbackEventRecord,
    body: string,
    receivedAt: Date,
  ): Promise<string | null> {
    const inserted: { id: string }[] = await this.db.run((m) =>
      m.query(
        `INSERT INTO wecom_events
         (dedupe_key, msg_type, event, from_user, agent_id, create_time, body, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (organization_id, dedupe_key) DO NOTHING
       RETURNING id`,
        [
          record.dedupeKey,
          record.msgType,
          record.event,
          record.fromUser,
          record.agentId,
          record.createTime,
          body,
          receivedAt,
        ],
      ),
    );
    const row = inserted[0];
    return row ? String(row.id) : null;
  }

  /**
   * The organisation's events received before `before` and never claimed (a crash in between, or
   * stored while it was suspended), oldest first.
   */
  async findUnclaimed(before: Date, limit: number): Promise<WeComEventEntity[]> {
    return this.db.run((m) =>
      m
        .getRepository(WeComEventEntity)
        .createQueryBuilder('e')
        .where(`e.organization_id = ${CURRENT_ORGANIZATION_ID}`)
        .andWhere('e.processed_at IS NULL AND e.received_at < :before', { before })
        .orderBy('e.received_at', 'ASC')
        .limit(limit)
        .getMany(),
    );
  }

  /**
   * Marks the event as dispatched at `at`; true when this call claimed it. Only one caller
   * (the request that stored it, or a sweep on any instance) wins, so handlers run at most once.
   */
  async claim(id: string, at: Date): Promise<boolean> {
    const claim = await this.db.run((m) =>
      m
        .createQueryBuilder()
        .update(WeComEventEntity)
        .set({ processedAt: at })
        .where(
          `id = :id AND processed_at IS NULL AND organization_id = ${CURRENT_ORGANIZATION_ID}`,
          {
            id,
          },
        )
        .execute(),
    );
    return claim.affected === 1;
  }

  /** Keeps what the handlers threw, for whoever looks into a failed event. */
  async recordHandlerError(id: string, error: string): Promise<void> {
    await this.db.run((m) =>
      m
        .getRepository(WeComEventEntity)
        .update({ id, organizationId: inCurrentOrganization() }, { handlerError: error }),
    );
  }
}
