import type { IncomingMessage, ServerResponse } from 'node:http';

import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import helmet from 'helmet';

/**
 * helmet()'s headers (CSP, HSTS, X-Frame-Options, nosniff …), worked out once: with its default
 * options every header is a constant, so running its middleware per request would only redo
 * the same `setHeader` calls through a middleware runner.
 */
export function helmetHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string) => (headers[name] = value),
    removeHeader: (name: string) => delete headers[name],
  } as unknown as ServerResponse;
  let failed: unknown;
  helmet()({} as IncomingMessage, res, (error?: unknown) => (failed = error));
  if (failed !== undefined) throw failed as Error;
  return headers;
}

/** What securityHeadersHook sets. */
export const SECURITY_HEADERS = Object.freeze(helmetHeaders());

/** Sets helmet's headers on every answer; a route may override one (the console's CSP). */
export function securityHeadersHook(
  _req: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  reply.headers(SECURITY_HEADERS);
  done();
}
