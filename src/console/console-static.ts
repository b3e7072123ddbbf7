import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { HttpException, Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';

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
export function serveConsole(app: NestExpressApplication, dir = builtConsoleDir()): void {
  const index = join(dir, 'index.html');
  if (!existsSync(index)) {
    new Logger('AdminConsole').warn(
      `The admin console is not built (${index} is missing): /admin answers 503; run npm run build`,
    );
  }

  app.use(CONSOLE_PATH, (req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendProblem(req, res, 405, 'The admin console is read with GET');
    }
    // Checked per request: a build made after start-up is served without a restart.
    if (!existsSync(index)) {
      return sendProblem(
        req,
        res,
        503,
        'The admin console is not built on this server: run `npm run build` (it builds the console into dist/web)',
      );
    }
    if (req.originalUrl === CONSOLE_PATH || req.originalUrl.startsWith(`${CONSOLE_PATH}?`)) {
      return res.redirect(301, `${CONSOLE_PATH}/${req.originalUrl.slice(CONSOLE_PATH.length)}`);
    }
    next();
  });

  app.useStaticAssets(dir, {
    prefix: `${CONSOLE_PATH}/`,
    index: false,
    redirect: false,
    dotfiles: 'ignore',
    fallthrough: true,
    setHeaders: (res, path) => {
      // Vite names every asset by its content hash: a new build has new names.
      res.setHeader(
        'Cache-Control',
        path.startsWith(join(dir, 'assets')) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });

  app.use(CONSOLE_PATH, (req: Request, res: Response) => {
    // A missing file (an old asset name, a typo) is a 404, never the page in its place: a
    // browser would run HTML as a script.
    if (req.path.startsWith('/assets/') || /\.[A-Za-z0-9]{1,8}$/.test(req.path)) {
      return sendProblem(req, res, 404, 'No such file in the admin console');
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
}

function sendProblem(req: Request, res: Response, status: 404 | 405 | 503, detail: string): void {
  const requestId = (req as Request & { requestId?: string }).requestId;
  const body = toProblem(new HttpException(detail, status), requestId);
  res.status(status).type(PROBLEM_CONTENT_TYPE).json(body);
}
