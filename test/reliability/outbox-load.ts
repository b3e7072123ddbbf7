import pg from 'pg';

import {
  isTokenMode,
  WeComSimulator,
  type SimulatorOptions,
} from '../../tools/wecom-simulator/wecom-simulator.js';
import { tokenFor } from '../support/test-app.js';

/**
 * How the simulator's gettoken behaves in this run: SIMULATOR_TOKEN_MODE (reuse, reuse-full-ttl,
 * fresh) and SIMULATOR_TOKEN_TTL_S, as for `npm run simulator`. CI runs the suite a second time
 * with short-lived tokens that WeCom hands back claiming their full lifetime.
 */
export function tokenSettings(): Pick<SimulatorOptions, 'tokenMode' | 'tokenTtlSeconds'> {
  const mode = process.env.SIMULATOR_TOKEN_MODE || 'reuse';
  const ttl = Number(process.env.SIMULATOR_TOKEN_TTL_S || 7200);
  if (!isTokenMode(mode)) throw new Error(`SIMULATOR_TOKEN_MODE: unknown mode ${mode}`);
  if (!Number.isInteger(ttl) || ttl < 1)
    throw new Error('SIMULATOR_TOKEN_TTL_S: not a positive integer');
  return { tokenMode: mode, tokenTtlSeconds: ttl };
}

/** The simulator of a reliability case, with the run's token settings. */
export function caseSimulator(options: Partial<SimulatorOptions> = {}): WeComSimulator {
  return new WeComSimulator({ ...options, ...tokenSettings() });
}

/** The simulated member who receives message `i` of a load (one message each). */
export const memberFor = (prefix: string, i: number) => `${prefix}${i}`;

/** Adds `count` members to the simulator: `${prefix}0` … */
export function addMembers(sim: WeComSimulator, prefix: string, count: number): void {
  sim.addUsers(
    Array.from({ length: count }, (_, i) => ({ userid: memberFor(prefix, i), name: `成员${i}` })),
  );
}

/**
 * Queues `count` text messages through the REST API, one per member, each with its own
 * idempotency key, 100 requests at a time; every one must be accepted (202).
 */
export async function queueMessages(baseUrl: string, prefix: string, count: number) {
  const token = await tokenFor('admin-1', 'admin');
  for (let i = 0; i < count; i += 100) {
    const statuses = await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
        const res = await fetch(`${baseUrl}/api/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            to: [{ wecomUserId: memberFor(prefix, i + j) }],
            msgtype: 'text',
            text: { content: `${prefix} 第 ${i + j} 条` },
            idempotencyKey: `${prefix}-${i + j}`,
          }),
        });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    const refused = statuses.filter((s) => s !== 202);
    if (refused.length > 0) throw new Error(`queueing refused: HTTP ${refused.join(', ')}`);
  }
}

/** A pg client on the spec's database, for reading what it holds. */
export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

export async function count(client: pg.Client, sql: string, params: unknown[] = []) {
  return Number((await client.query<{ n: string }>(sql, params)).rows[0].n);
}

export const countSent = (client: pg.Client) =>
  count(client, `SELECT count(*) AS n FROM messages WHERE status = 'sent'`);

/**
 * The members of a load who did not receive exactly one message, with how many they got:
 * empty when every message arrived once.
 */
export function notExactlyOnce(sim: WeComSimulator, prefix: string, total: number) {
  const wrong: Record<string, number> = {};
  for (let i = 0; i < total; i++) {
    const got = sim.messagesFor(memberFor(prefix, i)).length;
    if (got !== 1) wrong[memberFor(prefix, i)] = got;
  }
  return wrong;
}

/** Logs one line a CI reader can find: how long a case took and what it saw. */
export function report(name: string, startedAt: number, facts: Record<string, unknown>): void {
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  const detail = Object.entries(facts)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  const { tokenMode, tokenTtlSeconds } = tokenSettings();
  const tokens = `tokens=${tokenMode}/${tokenTtlSeconds}s`;
  process.stdout.write(`[reliability] ${name}: ${seconds} s ${detail} ${tokens}\n`);
}
