import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { buildService, freePort, waitFor } from './support/service-process.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/**
 * The Dockerfile's documented `docker run` commands, run as the image would run them (no Docker
 * engine needed): its CMD, in the repository (the image's /app), with the runtime stage's ENV
 * and exactly the `-e` variables its comment passes. Only what a container isolates is moved:
 * PORT and SIMULATOR_PORT to free ports, PGLITE_DIR to a temporary folder; placeholders
 * (`<corp id>`, the example database URLs) get this spec's database and simulator.
 */
const dockerfile = readFileSync('Dockerfile', 'utf8');
const START_MS = 180_000;

interface DocumentedRun {
  line: string;
  vars: [name: string, value: string][];
}

function documentedRuns(): DocumentedRun[] {
  const comment = dockerfile
    .split('\n')
    .filter((l) => l.startsWith('#'))
    .map((l) => l.replace(/^#\s?/, ''))
    .join('\n')
    .replace(/\\\n\s*/g, ' ');
  return comment
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('docker run '))
    .map((line) => ({
      line,
      vars: [...line.matchAll(/-e ([A-Z0-9_]+)=((?:<[^>]*>|\$\([^)]*\)|[^\s<$])+)/g)].map(
        (m) => [m[1]!, m[2]!] as [string, string],
      ),
    }));
}

/** The runtime stage's `ENV A=1 \ B=2` (the last ENV instruction of the file). */
function imageEnv(): Record<string, string> {
  const joined = dockerfile.replace(/\\\n\s*/g, ' ');
  const env = [...joined.matchAll(/^ENV (.+)$/gm)].at(-1)?.[1] ?? '';
  return Object.fromEntries([...env.matchAll(/([A-Z0-9_]+)=(\S+)/g)].map((m) => [m[1], m[2]]));
}

function imageCmd(): string[] {
  const cmd = /^CMD (\[.+\])$/m.exec(dockerfile)?.[1];
  if (!cmd) throw new Error('the Dockerfile has no CMD in exec form');
  return JSON.parse(cmd) as string[];
}

describe('The Dockerfile’s documented docker run', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  const dirs: string[] = [];

  beforeAll(async () => {
    buildService();
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
  }, 120_000);

  afterAll(async () => {
    await sim?.stop();
    await db?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  /** A value as the documenting shell would give it; placeholders get this spec's. */
  function valueOf(name: string, written: string): string {
    const ours: Record<string, string> = {
      DATABASE_URL: db.url,
      DATABASE_MIGRATION_URL: db.ownerUrl,
      AUTH_JWT_SECRET: 'a-production-secret-of-enough-length',
      WECOM_CORP_ID: 'ww-sandbox',
      WECOM_CORP_SECRET: 'sandbox-secret',
      WECOM_AGENT_ID: '1000002',
    };
    if (name in ours) return ours[name]!;
    if (written.includes('<')) throw new Error(`no value for the placeholder ${name}=${written}`);
    if (written.includes('$(')) {
      return execFileSync('sh', ['-c', `printf %s "${written}"`], { encoding: 'utf8' });
    }
    return written;
  }

  /** Starts the image's CMD with that environment; resolves with its exit, or with /health. */
  async function run(vars: Record<string, string>, extra: Record<string, string> = {}) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'smbw-docker-'));
    dirs.push(dir);
    const env = {
      PATH: process.env.PATH!,
      ...imageEnv(),
      ...vars,
      PORT: String(port),
      PGLITE_DIR: join(dir, 'pglite'),
      ...extra,
    };
    const [file, ...args] = imageCmd();
    const child = spawn(file!, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { child, port, exit, output: () => ({ stdout, stderr }) };
  }

  async function expectHealthy(vars: Record<string, string>, extra: Record<string, string>) {
    const started = await run(vars, extra);
    let exited: number | null | undefined;
    void started.exit.then((code) => (exited = code));
    try {
      let body: { status?: string; wecom?: { sandbox?: boolean } } = {};
      await waitFor(
        async () => {
          if (exited !== undefined) {
            throw new Error(`exited ${exited} at start-up:\n${started.output().stderr}`);
          }
          const res = await fetch(`http://127.0.0.1:${started.port}/health`).catch(() => null);
          if (!res?.ok) return false;
          body = (await res.json()) as typeof body;
          return true;
        },
        // PGlite's first start (initdb in WebAssembly) is slow on a loaded 2-core machine.
        START_MS,
        () => {
          const { stdout, stderr } = started.output();
          return `/health on port ${started.port}; output:\n${stdout.slice(-3000)}\n${stderr}`;
        },
      );
      expect(body.status).toBe('ok');
      return body;
    } finally {
      started.child.kill('SIGTERM');
      await started.exit;
    }
  }

  it('documents a production run and a sandbox try, both with every variable production needs', () => {
    const runs = documentedRuns();
    expect(runs).toHaveLength(2);
    for (const { vars } of runs) {
      const names = vars.map(([n]) => n);
      expect(names).toEqual(expect.arrayContaining(['AUTH_JWT_SECRET', 'APP_ENCRYPTION_KEY']));
    }
    expect(imageEnv()).toMatchObject({ NODE_ENV: 'production' });
  });

  it(
    'starts with the production command (real WeCom credentials) and answers /health',
    async () => {
      const { vars } = documentedRuns()[0]!;
      expect(vars.map(([n]) => n)).toEqual(
        expect.arrayContaining([
          'DATABASE_URL',
          'DATABASE_MIGRATION_URL',
          'WECOM_CORP_ID',
          'WECOM_CORP_SECRET',
          'WECOM_AGENT_ID',
        ]),
      );
      const env = Object.fromEntries(vars.map(([n, v]) => [n, valueOf(n, v)]));
      // The one addition: the simulator stands in for qyapi.weixin.qq.com, so nothing leaves here.
      const body = await expectHealthy(env, { WECOM_API_BASE_URL: sim.url });
      expect(body.wecom?.sandbox).toBe(false);
    },
    START_MS + 60_000,
  );

  it(
    'starts with the sandbox command (WECOM_SANDBOX=true) and answers /health',
    async () => {
      const { vars } = documentedRuns()[1]!;
      expect(vars).toContainEqual(['WECOM_SANDBOX', 'true']);
      const env = Object.fromEntries(vars.map(([n, v]) => [n, valueOf(n, v)]));
      const body = await expectHealthy(env, { SIMULATOR_PORT: '0' });
      expect(body.wecom?.sandbox).toBe(true);
    },
    START_MS + 60_000,
  );

  it('refuses the old, incomplete command at once, in one line naming what is missing', async () => {
    // What the comment used to say: docker run -e DATABASE_URL=... -e AUTH_JWT_SECRET=...
    const started = await run({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: 'a-production-secret-of-enough-length',
    });
    const code = await started.exit;
    const { stderr } = started.output();
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Invalid configuration: /);
    for (const name of [
      'APP_ENCRYPTION_KEY',
      'WECOM_CORP_ID',
      'WECOM_CORP_SECRET',
      'WECOM_AGENT_ID',
      'WECOM_SANDBOX=true',
    ]) {
      expect(lines[0]).toContain(name);
    }
  }, 120_000);
});
