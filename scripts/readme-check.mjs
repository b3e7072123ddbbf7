#!/usr/bin/env node
// Runs the README's shell blocks against a started service, so the README cannot drift from the
// code (issue #16). `node scripts/readme-check.mjs` from the repository root; .ci/run runs it.
//
// - Every ```bash block of README.md carries a marker on the line before it:
//   `<!-- readme-check: run -->` or `<!-- readme-check: skip: <why> -->`. An unmarked block, or a
//   required section without a run block, fails the check.
// - The service is the built one (`node dist/src/main.js`), in sandbox mode on an embedded PGlite
//   database in a temporary folder, on free ports. The README says localhost:3000 (service) and
//   localhost:4010 (simulator): those two literals, and nothing else, are rewritten to the ports
//   in use, so the check neither needs nor disturbs anything listening on 3000/4010.
// - Each run block is one `bash` with `set -euo pipefail`, in README order, from the repository
//   root, with the same environment (and so the same .env) as the service. The `curl` it finds
//   adds --fail-with-body and --max-time: an HTTP error answer fails the block, as a command
//   failing does, and the failing README line is printed.
// - Then the outcome the walkthroughs promise is checked in the simulator (OUTCOMES below).
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const README = join(ROOT, 'README.md');
/** Sections that must keep at least one run block (matched against the heading text). */
const REQUIRED_SECTIONS = ['Quick start', 'An interview, end to end', 'Admin configuration'];
/** What the README says arrives in the simulator, checked after its blocks ran. */
const OUTCOMES = [
  {
    what: 'the quick start message reached zhangsan',
    touser: 'zhangsan',
    ok: (msgs) => msgs.some((m) => JSON.stringify(m.body).includes('你好，面试明天 10:00 开始')),
  },
  {
    what: 'zhangsan got the interview invitation card, then the reschedule, then the cancellation',
    touser: 'zhangsan',
    ok: (msgs) => {
      const about = msgs.filter((m) => JSON.stringify(m.body).includes('前端工程师 二面'));
      return (
        about.length === 3 &&
        about[0].msgtype === 'template_card' &&
        JSON.stringify(about[2].body).includes('候选人已接受其他 offer')
      );
    },
  },
  {
    what: 'lisi (the observer) got the same three',
    touser: 'lisi',
    ok: (msgs) =>
      msgs.filter((m) => JSON.stringify(m.body).includes('前端工程师 二面')).length === 3,
  },
];
const START_TIMEOUT_MS = 180_000;
const BLOCK_TIMEOUT_MS = 180_000;

function fail(message) {
  process.stderr.write(`readme-check: ${message}\n`);
  process.exitCode = 1;
}

/** The README's ```bash blocks with their marker, line and section heading. */
function readmeBlocks(text) {
  const lines = text.split('\n');
  const blocks = [];
  const problems = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{1,6}\s+(.*)$/.exec(lines[i]);
    if (heading) section = heading[1].trim();
    if (!/^```(bash|sh|shell)\s*$/.test(lines[i])) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end < 0) {
      problems.push(`README.md:${i + 1}: unterminated code block`);
      break;
    }
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === '') k--;
    const marker = /^<!--\s*readme-check:\s*(run|skip\b[^>]*?)\s*-->\s*$/.exec(lines[k] ?? '');
    if (!marker) {
      problems.push(
        `README.md:${i + 1}: a shell block without <!-- readme-check: run --> or <!-- readme-check: skip: why -->`,
      );
    } else {
      blocks.push({
        line: i + 1,
        section,
        run: marker[1].trim() === 'run',
        code: lines.slice(i + 1, end).join('\n'),
      });
    }
    i = end;
  }
  return { blocks, problems };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url, child, logFile) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const ok = await fetch(`${url}/health`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  process.stderr.write(readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n'));
  return false;
}

/**
 * A `curl` first on the PATH that fails on an HTTP error (showing the body) and on a hang. A
 * command rather than a shell function, so that a failure is reported as the README's own line.
 */
function curlWrapper(dir) {
  const real = spawnSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim();
  if (!real) throw new Error('curl is not installed');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'curl'),
    `#!/bin/sh\nexec '${real}' --fail-with-body --no-progress-meter --max-time 30 "$@"\n`,
    { mode: 0o755 },
  );
  return bin;
}

function runBlock(block, env, ports, bin) {
  const code = block.code
    .replaceAll('localhost:3000', `localhost:${ports.service}`)
    .replaceAll('localhost:4010', `localhost:${ports.simulator}`);
  const script = [
    'set -euo pipefail',
    'trap \'printf "\\nreadme-check: failed: %s\\n" "$BASH_COMMAND" >&2\' ERR',
    code,
  ].join('\n');
  const result = spawnSync('bash', ['-c', script], {
    cwd: ROOT,
    env: { ...env, PATH: `${bin}:${env.PATH}` },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: BLOCK_TIMEOUT_MS,
  });
  // curl's body has no trailing newline: keep the next header on its own line.
  process.stdout.write('\n');
  return result.status === 0 && !result.error;
}

async function checkOutcomes(simulatorUrl) {
  const deadline = Date.now() + 20_000;
  let pending = OUTCOMES;
  while (pending.length > 0 && Date.now() < deadline) {
    const still = [];
    for (const o of pending) {
      const msgs = await fetch(
        `${simulatorUrl}/__simulator/messages?touser=${encodeURIComponent(o.touser)}`,
      )
        .then((r) => r.json())
        .catch(() => []);
      if (!o.ok(msgs)) still.push(o);
    }
    pending = still;
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 500));
  }
  for (const o of OUTCOMES) {
    process.stdout.write(`${pending.includes(o) ? 'MISSING' : 'ok'}: ${o.what}\n`);
  }
  return pending.length === 0;
}

async function main() {
  const { blocks, problems } = readmeBlocks(readFileSync(README, 'utf8'));
  for (const section of REQUIRED_SECTIONS) {
    if (!blocks.some((b) => b.run && b.section === section)) {
      problems.push(`README.md: no <!-- readme-check: run --> block under "${section}"`);
    }
  }
  if (problems.length > 0) {
    for (const p of problems) fail(p);
    return;
  }

  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) return fail('npm run build failed');

  const ports = { service: await freePort(), simulator: await freePort() };
  const dir = mkdtempSync(join(tmpdir(), 'readme-check-'));
  const logFile = join(dir, 'service.log');
  const bin = curlWrapper(dir);
  // Empty values win over a developer's .env (real variables win over it), so the check always
  // runs the README's own setting: development, sandbox, embedded database, background work on.
  const env = {
    ...process.env,
    NODE_ENV: 'development',
    PORT: String(ports.service),
    SIMULATOR_PORT: String(ports.simulator),
    PGLITE_DIR: join(dir, 'pglite'),
    DATABASE_URL: '',
    WECOM_CORP_ID: '',
    WECOM_SANDBOX: '',
    CRON_ENABLED: 'true',
  };
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.stdout.write(
    `readme-check: service on localhost:${ports.service} (README: 3000), simulator on ` +
      `localhost:${ports.simulator} (README: 4010), data in ${dir}\n`,
  );
  try {
    if (!(await waitForHealth(`http://127.0.0.1:${ports.service}`, child, logFile))) {
      return fail('the service did not answer /health');
    }
    for (const block of blocks) {
      if (!block.run) {
        process.stdout.write(`── README.md:${block.line} (${block.section}): skipped\n`);
        continue;
      }
      process.stdout.write(`── README.md:${block.line} (${block.section})\n`);
      if (!runBlock(block, env, ports, bin)) {
        process.stderr.write(readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n'));
        return fail(`the block at README.md:${block.line} (${block.section}) failed`);
      }
    }
    if (!(await checkOutcomes(`http://127.0.0.1:${ports.simulator}`))) {
      return fail('the simulator did not receive what the README says it does');
    }
    process.stdout.write(`readme-check: ${blocks.filter((b) => b.run).length} blocks passed\n`);
  } finally {
    await stop();
  }
}

await main();
