import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

import { simulatorEnv, TEST_JWT_SECRET } from './test-app.js';
import type { DatabaseEnv } from './test-database.js';

/** Builds the service (incrementally) so a spec never runs a stale dist/. */
export function buildService(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  ms: number,
  what: string | (() => string),
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`,
  );
}

/**
 * The environment of a service process pointed at a test database (`db.env`: as the restricted
 * role under TEST_APP_ROLE, migrating as the owner) and a simulator.
 */
export function serviceEnv(
  database: DatabaseEnv,
  simulatorUrl: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    ...simulatorEnv(simulatorUrl),
    DATABASE_URL: database.DATABASE_URL,
    ...(database.DATABASE_MIGRATION_URL && {
      DATABASE_MIGRATION_URL: database.DATABASE_MIGRATION_URL,
    }),
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'error',
    NODE_ENV: 'test',
    // Load tests send thousands of requests with one token; the rate limit is not under test.
    THROTTLE_LIMIT: '1000000',
    ...overrides,
  };
}

/** The built service running as a real process, as `npm start` runs it. */
export class ServiceProcess {
  private output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    // Read the logs as they come: an unread pipe fills up and blocks the child.
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  static async start(env: Record<string, string>, timeoutMs = 60_000): Promise<ServiceProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/src/main.js'], {
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(child, port);
    let gone = false;
    void service.exited.then(() => (gone = true));
    await waitFor(
      async () => {
        if (gone) throw new Error(`the service exited during start-up:\n${service.logs()}`);
        return service.healthy();
      },
      timeoutMs,
      'the service to answer /health',
    );
    return service;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Still running (no exit seen). */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last 20 kB of its stdout and stderr. */
  logs(): string {
    return this.output;
  }

  healthy(): Promise<boolean> {
    return fetch(`${this.url}/health`)
      .then((r) => r.ok)
      .catch(() => false);
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.alive) return;
    this.child.kill(signal);
    await this.exited;
  }
}
