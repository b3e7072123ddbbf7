// The ceiling's own ceiling (scenario 2): `GET /api/me` on a bare node:http server, no framework.
// The bearer check is the service's own JwtVerifier (jose, HS256, AUTH_JWT_SECRET, the same
// claim checks), and the answer is the same JSON, so the difference from the service's
// `GET /api/me` is what NestJS, Express, the middleware and the guards cost.
// Run as its own process, like the service: `node dist/bench/bare-http.js` with PORT and
// AUTH_JWT_SECRET set.
import { createServer, type ServerResponse } from 'node:http';

import { InvalidTokenError, JwtVerifier } from '../src/auth/jwt-verifier.js';
import type { AppConfigService } from '../src/config/app-config.js';

const settings: Record<string, unknown> = {
  AUTH_JWT_SECRET: process.env.AUTH_JWT_SECRET,
  AUTH_MAX_TOKEN_TTL_S: 86_400,
  NODE_ENV: 'production',
};
const verifier = new JwtVerifier({
  get: (key: string) => settings[key],
} as unknown as AppConfigService);

function answer(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') return answer(res, 200, { status: 'ok' });
  if (req.method !== 'GET' || req.url !== '/api/me') return answer(res, 404, {});
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!match) return answer(res, 401, { title: 'Missing bearer token' });
  verifier.verify(match[1]).then(
    (user) => answer(res, 200, { id: user.id, roles: user.roles }),
    (error: unknown) =>
      error instanceof InvalidTokenError
        ? answer(res, 401, { title: error.message })
        : answer(res, 500, {}),
  );
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
