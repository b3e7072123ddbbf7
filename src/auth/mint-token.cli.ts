// `npm run token -- [--sub u1] --roles admin,recruiter [--org acme] [--expires 8h]`: prints a JWT the service
// accepts, for local use and the README. It reads the configuration exactly as the service does
// (.env, then the environment, the same validation), so it signs with the same AUTH_JWT_SECRET.
import { parseArgs } from 'node:util';

import { decodeJwt } from 'jose';

import { DEV_JWT_SECRET, EnvValidationError } from '../config/env.validation.js';
import { loadEnvironment } from '../config/load-environment.js';
import { mintToken, tokenLifetimeS } from './jwt-verifier.js';
import { ORGANIZATION_CLAIM_MAX_LENGTH, ROLES, type Role } from './roles.js';

const USAGE =
  'usage: npm run token -- [--sub <platformUserId>] --roles admin,recruiter,interviewer,operator [--org <slug or id>] [--expires 8h]\n' +
  '  --sub defaults to dev-<first role> (dev-admin for --roles admin), or dev-user without roles\n' +
  '  --org names the organisation the token is for (the org claim); needed once there are several\n';

function fail(message: string, code: number): never {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  process.exit(code);
}

let values: { sub?: string; roles: string; org?: string; expires: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: 'string' },
      roles: { type: 'string', default: '' },
      org: { type: 'string' },
      expires: { type: 'string', default: '8h' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  fail(`${(error as Error).message}\n${USAGE}`, 2);
}
if (values.help) fail(USAGE, 0);

const roles = values.roles
  .split(',')
  .map((r) => r.trim())
  .filter(Boolean);
const unknown = roles.filter((r) => !ROLES.includes(r as Role));
if (unknown.length > 0) {
  fail(`unknown role(s): ${unknown.join(', ')}; known: ${ROLES.join(', ')}\n${USAGE}`, 2);
}
const sub = values.sub ?? `dev-${roles[0] ?? 'user'}`;
// The service refuses a token whose subject is empty or longer than 128 characters.
if (sub.length === 0 || sub.length > 128) fail(`--sub must be 1-128 characters\n${USAGE}`, 2);

// The service refuses an org claim that is empty or too long to name an organisation.
if (
  values.org !== undefined &&
  (values.org.length === 0 || values.org.length > ORGANIZATION_CLAIM_MAX_LENGTH)
) {
  fail(
    `--org must be an organisation slug or id (1-${ORGANIZATION_CLAIM_MAX_LENGTH} characters)\n${USAGE}`,
    2,
  );
}

let env;
try {
  env = loadEnvironment();
} catch (error) {
  if (error instanceof EnvValidationError) fail(error.message, 1);
  throw error;
}
if (!env.AUTH_JWT_SECRET && env.NODE_ENV === 'production') {
  fail(
    'AUTH_JWT_SECRET is unset: refusing to mint a token with the development secret in production',
    2,
  );
}
const secret = new TextEncoder().encode(env.AUTH_JWT_SECRET ?? DEV_JWT_SECRET);
let token: string;
try {
  token = await mintToken(
    secret,
    { id: sub, roles: roles as Role[], organization: values.org },
    values.expires,
  );
} catch (error) {
  // jose refuses an --expires it cannot read ("Invalid time period format").
  fail(`--expires: ${(error as Error).message} (e.g. 30m, 8h, 7d)\n${USAGE}`, 2);
}
// The service refuses tokens that live longer than AUTH_MAX_TOKEN_TTL_S: don't print one.
const maxTtlS = env.AUTH_MAX_TOKEN_TTL_S;
if (tokenLifetimeS(decodeJwt(token), Date.now() / 1000) > maxTtlS) {
  fail(
    `--expires ${values.expires} is longer than AUTH_MAX_TOKEN_TTL_S (${maxTtlS} s): the service would refuse the token`,
    2,
  );
}
process.stdout.write(`${token}\n`);
