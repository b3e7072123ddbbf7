import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { DatabaseEngine, type DatabaseEngineKind } from './database-engine.js';

/** How long /health waits for the database before calling it down. */
const PING_TIMEOUT_MS = 3000;

export interface DatabaseStatus {
  status: 'up' | 'down';
  engine: DatabaseEngineKind;
  version?: string;
}

/** Whether the database answers, for /health: the one question about it asked from outside. */
@Injectable()
export class DatabaseHealth {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly engine: DatabaseEngine,
  ) {}

  async ping(): Promise<DatabaseStatus> {
    try {
      const rows: { version: string }[] = await withTimeout(
        this.dataSource.query('SELECT version() AS version'),
        PING_TIMEOUT_MS,
      );
      const text = rows[0]?.version ?? '';
      // Reported by the server itself, so a PGlite reached through a URL still says pglite.
      const engine: DatabaseEngineKind = text.includes('PGlite') ? 'pglite' : 'postgresql';
      return { status: 'up', engine, version: /PostgreSQL (\S+)/.exec(text)?.[1] };
    } catch {
      return { status: 'down', engine: this.engine.kind };
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
