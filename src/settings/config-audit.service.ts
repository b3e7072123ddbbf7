import { Injectable } from '@nestjs/common';

import { SettingsRepository } from './settings.repository.js';

/** One entry of the configuration's audit trail (names of fields only, never secret values). */
export interface ConfigAuditRecord {
  id: string;
  at: Date;
  actor: string;
  action: string;
  fields: string[];
  outcome: string;
  detail: string | null;
  /** The settings version the change produced, or null (a rejected change, a check). */
  version: number | null;
  requestId: string | null;
}

/** Reads the audit trail RuntimeSettings writes, for the admin API. */
@Injectable()
export class ConfigAuditService {
  constructor(private readonly repo: SettingsRepository) {}

  /** `limit` entries, newest first, older than the entry `beforeId` when given. */
  async list(limit: number, beforeId?: string): Promise<ConfigAuditRecord[]> {
    const rows = await this.repo.listAudit(limit, beforeId);
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      fields: r.fields,
      outcome: r.outcome,
      detail: r.detail,
      version: r.version === null ? null : Number(r.version),
      requestId: r.requestId,
    }));
  }
}
