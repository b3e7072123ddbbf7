import { randomUUID } from 'node:crypto';

import type { NextFunction, Request, Response } from 'express';

import { requestContext } from './request-context.js';

const ACCEPTED_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes `x-request-id` from the caller when it is sane, makes one otherwise, echoes it back. */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const incoming = req.header('x-request-id');
  const requestId = incoming && ACCEPTED_ID.test(incoming) ? incoming : randomUUID();
  (req as Request & { requestId?: string }).requestId = requestId;
  res.setHeader('x-request-id', requestId);
  requestContext.run({ requestId }, next);
}
