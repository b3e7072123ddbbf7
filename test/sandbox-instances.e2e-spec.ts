import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';

import { buildService, freePort, ServiceProcess, waitFor } from './support/service-process.js';
import { TEST_JWT_SECRET, tokenFor } from './support/test-app.js';
import {
  createTestDatabase,
  type DatabaseEnv,
  describeWithServer,
  type TestDatabase,
} from './support/test-database.js';

/** `npm start` in sandbox mode (no WECOM_CORP_ID) against a shared database. */
function sandboxEnv(database: DatabaseEnv, simulatorPort: number): Record<string, string> {
  return {
    DATABASE_URL: database.DATABASE_URL,
    ...(database.DATABASE_MIGRATION_URL && {
      DATABASE_MIGRATION_URL: database.DATABASE_MIGRATION_URL,
    }),
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    NODE_ENV: 'test',
    LOG_LEVEL: 'log',
    SIMULATOR_PORT: String(simulatorPort),
  };
}

/** Issue #14, item 4: a second sandbox instance on the same database and simulator port. */
describeWithServer('Two sandbox instances on one database (processes)', () => {
  let db: TestDatabase;
  const services: ServiceProcess[] = [];
  let squatter: Server | undefined;

  beforeAll(async () => {
    buildService();
    db = await createTestDatabase();
  }, 120_000);

  afterAll(async () => {
    for (const s of services) await s.kill();
    await new Promise((r) => (squatter ? squatter.close(r) : r(undefined)));
    await db?.drop();
  });

  it('the second uses the simulator the first runs, and both deliver to it', async () => {
    const simulatorPort = await freePort();
    const env = sandboxEnv(db.env, simulatorPort);
    const first = await ServiceProcess.start(env);
    services.push(first);
    const second = await ServiceProcess.start(env);
    services.push(second);

    expect(second.logs()).toContain(
      `using the WeCom simulator another process runs at http://127.0.0.1:${simulatorPort}`,
    );
    expect(second.logs()).not.toMatch(/EADDRINUSE|\n\s+at /);
    const health = (await (await fetch(`${second.url}/health`)).json()) as { wecom: unknown };
    expect(health.wecom).toMatchObject({ sandbox: true });

    const admin = await tokenFor('admin-1', 'admin');
    for (const [k, service] of [first, second].entries()) {
      const res = await fetch(`${service.url}/api/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          to: [{ wecomUserId: 'zhangsan' }],
          msgtype: 'text',
          text: { content: `from instance ${k + 1}` },
        }),
      });
      expect(res.status).toBe(202);
    }
    const simulator = `http://127.0.0.1:${simulatorPort}`;
    const received = async () =>
      (
        (await (await fetch(`${simulator}/__simulator/messages?touser=zhangsan`)).json()) as {
          body: { text: { content: string } };
        }[]
      ).map((m) => m.body.text.content);
    await waitFor(async () => (await received()).length >= 2, 30_000, 'both messages');
    expect((await received()).sort()).toEqual(['from instance 1', 'from instance 2']);
  }, 180_000);

  it('says in one line what to change when something else holds the port, and exits 1', async () => {
    const port = await freePort();
    squatter = createServer((_req, res) => res.end('not a simulator'));
    await new Promise<void>((resolve) => squatter!.listen(port, '127.0.0.1', resolve));

    const child = spawn(process.execPath, ['dist/src/main.js'], {
      env: { ...process.env, ...sandboxEnv(db.env, port), PORT: String(await freePort()) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));

    expect(code).toBe(1);
    const errors = output.split('\n').filter((line) => /ERROR|failed/i.test(line));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(
      `SIMULATOR_PORT ${port} is taken by something that is not a WeCom simulator`,
    );
    expect(errors[0]).toContain('set SIMULATOR_PORT to a free port');
    expect(output).not.toMatch(/\n\s+at |EADDRINUSE/);
  }, 120_000);
});
