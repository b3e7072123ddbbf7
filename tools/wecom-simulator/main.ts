// `node dist/tools/wecom-simulator/main.js --port 4010`: runs the WeCom simulator on its own, for
// sandbox mode and benchmarks. Settings come from flags, then SIMULATOR_* variables.
import { parseArgs } from 'node:util';

import { parseTrustedIpsVariable } from './trusted-ips.js';
import {
  isTokenMode,
  loadUsersFile,
  TOKEN_MODES,
  WeComSimulator,
  type SimulatorOptions,
} from './wecom-simulator.js';

class UsageError extends Error {}

function integer(
  name: string,
  raw: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be an integer of ${min}-${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function tokenMode(raw: string | undefined): SimulatorOptions['tokenMode'] | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!isTokenMode(raw)) {
    throw new UsageError(
      `SIMULATOR_TOKEN_MODE must be one of ${TOKEN_MODES.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  }
  return raw;
}

function settings(): { port: number; host: string; options: Partial<SimulatorOptions> } {
  let values: { port?: string; host?: string };
  try {
    ({ values } = parseArgs({
      options: { port: { type: 'string' }, host: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; usage: main.js [--port N] [--host ADDR]`);
  }
  const env = process.env;
  const port =
    integer('--port', values.port, 0, 65535) ??
    integer('SIMULATOR_PORT', env.SIMULATOR_PORT, 0, 65535) ??
    4010;
  if (values.host === '') throw new UsageError('--host must not be empty');
  const options: Partial<SimulatorOptions> = {
    latencyMs: integer('SIMULATOR_LATENCY_MS', env.SIMULATOR_LATENCY_MS, 0, 60_000),
    tokenTtlSeconds: integer('SIMULATOR_TOKEN_TTL_S', env.SIMULATOR_TOKEN_TTL_S, 1, 86_400 * 30),
    tokenMode: tokenMode(env.SIMULATOR_TOKEN_MODE),
    agentId: integer('SIMULATOR_AGENT_ID', env.SIMULATOR_AGENT_ID, 1, 2 ** 31 - 1),
    corpId: env.SIMULATOR_CORP_ID || undefined,
    corpSecret: env.SIMULATOR_CORP_SECRET || undefined,
    trustedIps: parseTrustedIpsVariable(env.SIMULATOR_TRUSTED_IPS),
    callbackTimeoutMs: integer(
      'SIMULATOR_CALLBACK_TIMEOUT_MS',
      env.SIMULATOR_CALLBACK_TIMEOUT_MS,
      1,
      60_000,
    ),
  };
  if (env.SIMULATOR_USERS_FILE) {
    try {
      options.users = loadUsersFile(env.SIMULATOR_USERS_FILE);
    } catch (error) {
      throw new UsageError(`SIMULATOR_USERS_FILE: ${(error as Error).message}`);
    }
  }
  return { port, host: values.host ?? '127.0.0.1', options };
}

let simulator: WeComSimulator;
let port: number;
let host: string;
try {
  const parsed = settings();
  ({ port, host } = parsed);
  simulator = new WeComSimulator(parsed.options);
} catch (error) {
  process.stderr.write(`wecom-simulator: ${(error as Error).message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(2);
}

let url: string;
try {
  url = await simulator.start(port, host);
} catch (error) {
  process.stderr.write(
    `wecom-simulator: cannot listen on ${host}:${port}: ${(error as Error).message}\n`,
  );
  process.exit(1);
}
// The secret is never printed: sandbox logs end up in CI output.
process.stdout.write(
  `WeCom simulator listening on ${url} (corp id ${simulator.corpId}, agent id ${simulator.agentId}); ` +
    `control API at ${url}/__simulator/\n`,
);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  simulator.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
