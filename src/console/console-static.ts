import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import fastifyStatic from '@fastify/static';
import { HttpException, Logger } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { toProblem } from '../common/http-exception.filter.js';
import { PROBLEM_CONTENT_TYPE } from '../common/problem-details.js';

export const CONSOLE_PATH = '/admin';

/**
 * What the console's pages may load, and nothing more: its own scripts, styles, icon and API
 * (same origin). Vite emits external module scripts and stylesheets only (web/vite.config.mjs
 * inlines nothing), so no 'unsafe-inline' is needed; React sets styles through the CSSOM, which
 * style-src does not restrict. Never framed, no <base>, no plugins.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** dist/web of this project (src/console in specs, dist/src/console when built). */
export function builtConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const { name } = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string };
      if (name === 'showmebug-wecom') return join(dir, 'dist', 'web');
    }
    const parent = dirname(dir);
    if (parent === dir) return join(process.cwd(), 'dist', 'web');
    dir = parent;
  }
}

/**
 * Serves the admin console (web/, built by `npm run build` into dist/web) at /admin: its hashed
 * assets cached for good, every other path under /admin answered with index.html (the console
 * routes in the browser), all with the console's own CSP. Without a build, /admin answers a 503
 * problem saying how to build it, and the API runs as usual.
 */
export function serveConsole(fastify: FastifyInstance, dir = builtConsoleDir()): void {
  const index = join(dir, 'index.html');
  if (!existsSync(index)) {
    new Logger('AdminConsole').warn(
      `The admin console is not built (${index} is missing): /admin answers 503; run npm run build`,
    );
  }
  // reply.sendFile only: which file a path means is decided below.
  void fastify.register(fastifyStatic, { root: dir, serve: false });

  const handler = (req: FastifyRequest<{ Params: { '*'?: string } }>, reply: FastifyReply) => {
    reply.header('Content-Security-Policy', CONSOLE_CSP);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply.header('Allow', 'GET, HEAD');
      return sendProblem(req, reply, 405, 'The admin console is read with GET');
    }
    // Checked per request: a build made after start-up is served without a restart.
    if (!existsSync(index)) {
      return sendProblem(
        req,
        reply,
        503,
        'The admin console is not built on this server: run `npm run build` (it builds the console into dist/web)',
      );
    }
    const wildcard = req.params['*'];
    if (wildcard === undefined) {
      return reply.redirect(`${CONSOLE_PATH}/${req.url.slice(CONSOLE_PATH.length)}`, 301);
    }
    const file = fileOf(dir, wildcard);
    if (file) {
      // Vite names every asset by its content hash: a new build has new names.
      reply.header(
        'Cache-Control',
        file.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
      return reply.sendFile(file, dir, { cacheControl: false });
    }
    // A missing file (an old asset name, a typo) is a 404, never the page in its place: a
    // browser would run HTML as a script.
    if (wildcard.startsWith('assets/') || /\.[A-Za-z0-9]{1,8}$/.test(wildcard)) {
      return sendProblem(req, reply, 404, 'No such file in the admin console');
    }
    reply.header('Cache-Control', 'no-cache');
    return reply.sendFile('index.html', dir, { cacheControl: false });
  };
  fastify.all(CONSOLE_PATH, handler);
  fastify.all(`${CONSOLE_PATH}/*`, handler);
}

/**
 * The file under `dir` a path below /admin names, relative to `dir`; undefined for none, for a
 * folder, and for any path that climbs (`..`) or names a dotfile.
 */
function fileOf(dir: string, path: string): string | undefined {
  const segments = path.split('/');
  if (segments.some((s) => s === '' || s.startsWith('.') || s.includes('\\'))) return undefined;
  const relative = segments.join('/');
  try {
    return statSync(join(dir, relative)).isFile() ? relative : undefined;
  } catch {
    return undefined;
  }
}

function sendProblem(
  req: FastifyRequest,
  reply: FastifyReply,
  status: 404 | 405 | 503,
  detail: string,
): FastifyReply {
  const body = toProblem(new HttpException(detail, status), req.id);
  return reply.status(status).type(PROBLEM_CONTENT_TYPE).send(body);
}
