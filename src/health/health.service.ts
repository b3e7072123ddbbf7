import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { DatabaseEngine, type DatabaseEngineKind } from '../database/database-engine.js';

export interface DependencyHealth {
  status: string;
  [detail: string]: unknown;
}

/** Anything that reports its own health on /health (WeCom registers one). */
export abstract class HealthContributor {
  abstract readonly name: string;
  abstract check(): Promise<DependencyHealth>;
}

export interface HealthReport {
  status: 'ok' | 'error';
  db: { status: 'up' | 'down'; engine: DatabaseEngineKind; version?: string };
  [dependency: string]: unknown;
}

@Injectable()
export class HealthService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly engine: DatabaseEngine,
  ) {}

  private readonly contributors: HealthContributor[] = [];

  /** Feature modules add their own section to /health (WeCom: token status). */
  register(contributor: HealthContributor): void {
    this.contributors.push(contributor);
  }

  async report(): Promise<HealthReport> {
    const db = await this.database();
    const report: HealthReport = { status: db.status === 'up' ? 'ok' : 'error', db };
    for (const contributor of this.contributors) {
      report[contributor.name] = await contributor
        .check()
        .catch(() => ({ status: 'unknown' }) as DependencyHealth);
    }
    return report;
  }

  private async database(): Promise<HealthReport['db']> {
    try {
      const rows: { version: string }[] = await withTimeout(
        this.dataSource.query('SELECT version() AS version'),
        3000,
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
