import { Injectable } from '@nestjs/common';

import { DatabaseHealth, type DatabaseStatus } from '../database/database-health.js';

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
  db: DatabaseStatus;
  [dependency: string]: unknown;
}

@Injectable()
export class HealthService {
  constructor(private readonly database: DatabaseHealth) {}

  private readonly contributors: HealthContributor[] = [];

  /** Feature modules add their own section to /health (WeCom: token status). */
  register(contributor: HealthContributor): void {
    this.contributors.push(contributor);
  }

  async report(): Promise<HealthReport> {
    const db = await this.database.ping();
    const report: HealthReport = { status: db.status === 'up' ? 'ok' : 'error', db };
    for (const contributor of this.contributors) {
      report[contributor.name] = await contributor
        .check()
        .catch(() => ({ status: 'unknown' }) as DependencyHealth);
    }
    return report;
  }
}
