import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { decodeJwt } from 'jose';

import { buildService, freePort, waitFor } from './support/service-process.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const ROOT = resolve('.');
const CLI = join(ROOT, 'dist/src/auth/mint-token.cli.js');
const MAIN = join(ROOT, 'dist/src/main.js');
const SECRET_IN_DOTENV = 'secret-from-dotenv-0123456789';
/** Each case starts the CLI (a Node process) once to three times: generous on a loaded machine. */
const CASE_MS = 90_000;

/** A clean environment: nothing of the spec's own (NODE_ENV=test, secrets) leaks in. */
const baseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: process.env.HOME });

function mint(
  cwd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd, env: { ...baseEnv(), ...env } },
      (error, stdout, stderr) =>
        done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run token (the CLI, as a process)', () => {
  let db: TestDatabase;
  let dir: string;
  let service: ChildProcess | undefined;
  let url: string;

  beforeAll(async () => {
    buildService();
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'smbw-token-'));
    const port = await freePort();
    // The service and the CLI both run in `dir` and read its .env, as on a developer's machine.
    writeFileSync(
      join(dir, '.env'),
      [
        `AUTH_JWT_SECRET=${SECRET_IN_DOTENV}`,
        ...Object.entries(db.env).map(([name, value]) => `${name}=${value}`),
        'SIMULATOR_PORT=0',
        'CRON_ENABLED=false',
        'LOG_LEVEL=error',
        `PORT=${port}`,
      ].join('\n'),
    );
    url = `http://127.0.0.1:${port}`;
    service = spawn(process.execPath, [MAIN], {
      cwd: dir,
      env: baseEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    service.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitFor(
      () =>
        fetch(`${url}/health`)
          .then((r) => r.ok)
          .catch(() => false),
      150_000,
      () => `the service to answer /health; its stderr:\n${stderr}`,
    );
  }, 240_000);

  afterAll(async () => {
    if (service && service.exitCode === null) {
      const exited = new Promise((resolve) => service!.once('exit', resolve));
      service.kill('SIGTERM');
      await exited;
    }
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const adminConfig = (token: string) =>
    fetch(`${url}/api/admin/config`, { headers: { authorization: `Bearer ${token}` } });

  it(
    'signs with AUTH_JWT_SECRET from .env: the service started from the same .env accepts it',
    async () => {
      const minted = await mint(dir, ['--roles', 'admin']);
      expect(minted).toMatchObject({ code: 0, stderr: '' });
      const token = minted.stdout.trim();
      expect((await adminConfig(token)).status).toBe(200);

      // Without the .env (another folder), the CLI signs with the development secret: refused.
      const elsewhere = mkdtempSync(join(tmpdir(), 'smbw-token-'));
      try {
        const dev = await mint(elsewhere, ['--roles', 'admin']);
        expect(dev.code).toBe(0);
        expect((await adminConfig(dev.stdout.trim())).status).toBe(401);
      } finally {
        rmSync(elsewhere, { recursive: true, force: true });
      }
    },
    CASE_MS,
  );

  it(
    'lets a real environment variable win over .env, as the service does',
    async () => {
      const minted = await mint(dir, ['--roles', 'admin'], {
        AUTH_JWT_SECRET: 'another-secret-from-the-environment',
      });
      expect(minted.code).toBe(0);
      expect((await adminConfig(minted.stdout.trim())).status).toBe(401);
    },
    CASE_MS,
  );

  it(
    'works as the README writes it: --roles admin alone mints for dev-admin',
    async () => {
      const minted = await mint(dir, ['--roles', 'admin']);
      expect(decodeJwt(minted.stdout.trim())).toMatchObject({ sub: 'dev-admin', roles: ['admin'] });
      const recruiter = await mint(dir, ['--sub', 'u-1001', '--roles', 'recruiter,interviewer']);
      expect(decodeJwt(recruiter.stdout.trim())).toMatchObject({
        sub: 'u-1001',
        roles: ['recruiter', 'interviewer'],
      });
    },
    CASE_MS,
  );

  it(
    '--org names the organisation (the org claim) and the service serves it there; an unknown one is a 401',
    async () => {
      const minted = await mint(dir, ['--roles', 'admin', '--org', 'default']);
      expect(minted).toMatchObject({ code: 0, stderr: '' });
      const token = minted.stdout.trim();
      expect(decodeJwt(token)).toMatchObject({
        sub: 'dev-admin',
        roles: ['admin'],
        org: 'default',
      });
      expect((await adminConfig(token)).status).toBe(200);

      const elsewhere = (await mint(dir, ['--roles', 'admin', '--org', 'nobody'])).stdout.trim();
      const refused = await adminConfig(elsewhere);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { detail: string }).detail).toBe('Unknown organisation');

      const empty = await mint(dir, ['--roles', 'admin', '--org', '']);
      expect(empty.code).toBe(2);
      expect(empty.stdout).toBe('');
      expect(empty.stderr).toMatch(/^--org must be an organisation slug or id/);
    },
    CASE_MS,
  );

  it(
    'refuses a bad .env the way the service does: one line naming the variable, exit 1',
    async () => {
      const bad = mkdtempSync(join(tmpdir(), 'smbw-token-'));
      try {
        writeFileSync(join(bad, '.env'), 'AUTH_JWT_SECRET=short\n');
        const minted = await mint(bad, ['--roles', 'admin']);
        expect(minted).toEqual({
          code: 1,
          stdout: '',
          stderr: 'Invalid configuration: AUTH_JWT_SECRET must be at least 16 characters\n',
        });
      } finally {
        rmSync(bad, { recursive: true, force: true });
      }
    },
    CASE_MS,
  );

  it(
    'answers a typo with the usage, not a stack trace',
    async () => {
      const minted = await mint(dir, ['--role', 'admin']);
      expect(minted.code).toBe(2);
      expect(minted.stdout).toBe('');
      expect(minted.stderr).toMatch(/^Unknown option '--role'/);
      expect(minted.stderr).toContain('usage: npm run token');
      expect(minted.stderr).not.toMatch(/\n\s+at /);
    },
    CASE_MS,
  );
});
