// What every scenario of `npm run bench` shares: settings, the simulator's control API, the
// service's environment, bearer tokens and the seeded people.
import { randomBytes } from 'node:crypto';

import { mintToken } from '../src/auth/jwt-verifier.js';
import type { AuthUser } from '../src/auth/roles.js';

/** An integer setting from the environment, so quick runs can shrink a scenario. */
export function setting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export const SERVER =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const LATENCY = setting('SIMULATOR_LATENCY_MS', 20);
/**
 * Added to every port the bench listens on (simulator 24010, services 23000-23499), so that two
 * benches on one machine (a baseline and a branch) do not serve each other's requests.
 */
export const PORT_OFFSET = process.env.BENCH_PORT_OFFSET ? setting('BENCH_PORT_OFFSET', 0) : 0;
export const SIM_PORT = 24010 + PORT_OFFSET;
export const SECRET = 'bench-secret-0123456789abcdef';
export const CORP_ID = 'ww-sandbox';
export const DISPATCHER_CONCURRENCY = 8;
/** In-flight WeCom calls of one dispatcher (it keeps twice its concurrency claimed). */
export const CALLS_IN_FLIGHT = DISPATCHER_CONCURRENCY * 2;
/** The platform user the bench books as (an admin; left unmapped, so it receives nothing). */
export const BENCH_USER = 'bench-admin';

/** A fresh key per run (APP_ENCRYPTION_KEY): the bench stores no secret worth keeping. */
export const ENCRYPTION_KEY = `bench:${randomBytes(32).toString('base64')}`;

export const sim = `http://127.0.0.1:${SIM_PORT}`;

export async function simJson<T>(path: string, init?: RequestInit): Promise<T> {
  return (await (await fetch(`${sim}${path}`, init)).json()) as T;
}

export interface SimStats {
  calls: Record<string, number>;
  delivered: number;
  dropped: number;
}

/** The whole simulator's counters, or one corp's. */
export const simStats = (corpId?: string) =>
  simJson<SimStats>(
    corpId === undefined
      ? '/__simulator/stats'
      : `/__simulator/stats?corpId=${encodeURIComponent(corpId)}`,
  );
export const resetSim = () => simJson('/__simulator/reset', { method: 'POST' });

export interface SimCorp {
  corpId: string;
  corpSecret: string;
  agentId: number;
  members: { userid: string; name: string }[];
}

/** Another company's WeCom in the simulator: its own secret, app, members and tokens. */
export async function addSimCorp(corp: SimCorp): Promise<void> {
  const res = await fetch(`${sim}/__simulator/corps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(corp),
  });
  if (res.status !== 201) {
    throw new Error(`POST /__simulator/corps answered ${res.status}: ${await res.text()}`);
  }
}

/** When `userid` first received something, in epoch ms (NaN when nothing came). */
export async function firstDelivery(userid: string): Promise<number> {
  const got = await simJson<{ time: string }[]>(
    `/__simulator/messages?touser=${encodeURIComponent(userid)}`,
  );
  return got[0] ? Date.parse(got[0].time) : NaN;
}

/** WeCom member `i` of the simulator's directory, and the platform user mapped to it. */
export const member = (i: number) => `b${i}`;
export const platformUser = (i: number) => `p${i}`;

export function serviceEnv(
  databaseUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    AUTH_JWT_SECRET: SECRET,
    APP_ENCRYPTION_KEY: ENCRYPTION_KEY,
    WECOM_CORP_ID: CORP_ID,
    WECOM_CORP_SECRET: 'sandbox-secret',
    WECOM_AGENT_ID: '1000002',
    WECOM_API_BASE_URL: sim,
    DISPATCHER_CONCURRENCY: String(DISPATCHER_CONCURRENCY),
    // The request rate limiter is sized for people, not for a load generator on one address:
    // raised far out of the way so the bench measures the service, not the limiter.
    THROTTLE_LIMIT: '1000000',
    THROTTLE_IP_LIMIT: '4000000',
    THROTTLE_TTL_S: '60',
    ...extra,
  };
}

/**
 * A token of the bench's: its admin unless `as` says otherwise. With several organisations an
 * organisation's token must name one (`org`: id or slug); an operator's names none.
 */
export function bearer(
  organization?: string,
  as: Pick<AuthUser, 'id' | 'roles'> = { id: BENCH_USER, roles: ['admin'] },
): Promise<string> {
  return mintToken(new TextEncoder().encode(SECRET), { ...as, organization }, '2h');
}

export function log(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/**
 * The REST scenarios' booking: interviewers with no WeCom mapping, so it writes everything
 * (interview, people, reminders, messages) but sends nothing, and the write path is measured alone.
 */
export function unmappedBooking(): string {
  return JSON.stringify({
    title: '前端工程师 二面',
    candidate: { name: '王小明', email: 'wangxm@example.com' },
    startsAt: new Date(Date.now() + 4 * 86400_000).toISOString(),
    durationMinutes: 60,
    roomUrl: 'https://www.showmebug.com/pads/LOAD',
    interviewers: ['load-1', 'load-2', 'load-3'],
  });
}
