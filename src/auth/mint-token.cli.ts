// `npm run token -- --sub u1 --roles admin,recruiter [--expires 8h]`: prints a JWT signed with
// the configured AUTH_JWT_SECRET (or the development default), for local use and the README.
import { parseArgs } from 'node:util';

import { decodeJwt } from 'jose';

import { DEV_JWT_SECRET } from '../config/env.validation.js';
import { mintToken, tokenLifetimeS } from './jwt-verifier.js';
import { ROLES, type Role } from './roles.js';

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    roles: { type: 'string', default: '' },
    expires: { type: 'string', default: '8h' },
  },
});

if (!values.sub) {
  process.stderr.write(
    'usage: npm run token -- --sub <platformUserId> --roles admin,recruiter,interviewer\n',
  );
  process.exit(2);
}
const roles = values.roles
  .split(',')
  .map((r) => r.trim())
  .filter(Boolean);
const unknown = roles.filter((r) => !ROLES.includes(r as Role));
if (unknown.length > 0) {
  process.stderr.write(`unknown role(s): ${unknown.join(', ')}; known: ${ROLES.join(', ')}\n`);
  process.exit(2);
}
if (!process.env.AUTH_JWT_SECRET && process.env.NODE_ENV === 'production') {
  process.stderr.write(
    'AUTH_JWT_SECRET is unset: refusing to mint a token with the development secret in production\n',
  );
  process.exit(2);
}
const secret = new TextEncoder().encode(process.env.AUTH_JWT_SECRET || DEV_JWT_SECRET);
const token = await mintToken(secret, { id: values.sub, roles: roles as Role[] }, values.expires);
// The service refuses tokens that live longer than AUTH_MAX_TOKEN_TTL_S: don't print one.
const maxTtlS = Number(process.env.AUTH_MAX_TOKEN_TTL_S || 86_400);
if (tokenLifetimeS(decodeJwt(token), Date.now() / 1000) > maxTtlS) {
  process.stderr.write(
    `--expires ${values.expires} is longer than AUTH_MAX_TOKEN_TTL_S (${maxTtlS} s): the service would refuse the token\n`,
  );
  process.exit(2);
}
process.stdout.write(`${token}\n`);
