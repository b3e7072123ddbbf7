import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

import { currentRequestId, requestContext } from './request-context.js';

const ACCEPTED_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Fastify's `genReqId`: the caller's `x-request-id` when it is sane, a new one otherwise. */
export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && ACCEPTED_ID.test(incoming) ? incoming : randomUUID();
}

/** Echoes the request id and runs the rest of the request with it in the log context. */
export function requestIdHook(
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  reply.header('x-request-id', request.id);
  requestContext.run({ requestId: request.id }, done);
}

/**
 * Puts the request id back in the log context before the handler: a body is read in the
 * stream's callbacks, which do not carry the context the request started in.
 */
export function requestContextHook(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  if (currentRequestId() === request.id) done();
  else requestContext.run({ requestId: request.id }, done);
}
