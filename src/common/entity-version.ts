import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  mixin,
  type NestInterceptor,
  type Type,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { type Observable, tap } from 'rxjs';

import { ValidationProblemException } from './validation-problem.js';

/**
 * Optimistic concurrency on a row with a `version` counter: answers carry `ETag: "<version>"`,
 * a change may send it back as `If-Match`, and one based on an older version is refused with
 * 412. If-Match is optional (absent or `*`: no check), so existing callers keep working.
 */

/** The version `If-Match` names (`"3"`, `3` or `W/"3"`); undefined when it names none. */
export function ifMatchVersion(ifMatch: string | undefined, subject: string): number | undefined {
  const value = ifMatch?.trim();
  if (value === undefined || value === '' || value === '*') return undefined;
  const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(value);
  if (!m) {
    throw new ValidationProblemException([
      { field: 'If-Match', message: `If-Match must be the ${subject} version, e.g. "3"` },
    ]);
  }
  return Number(m[1]);
}

/** What a 412 (or a 409) says of a change based on `expected` when the row is at `current`. */
export function staleVersion(
  subject: string,
  expected: number,
  current: number,
): { message: string; version: number } {
  return {
    message: `${subject} changed since version ${expected} (now version ${current}); reload it and try again`,
    version: current,
  };
}

/** An interceptor setting `ETag: "<version>"` from the answer (`versionOf` finds it). */
export function VersionETag<T>(versionOf: (body: T) => number): Type<NestInterceptor> {
  @Injectable()
  class VersionETagInterceptor implements NestInterceptor {
    intercept(context: ExecutionContext, next: CallHandler<T>): Observable<T> {
      const reply = context.switchToHttp().getResponse<FastifyReply>();
      return next.handle().pipe(tap((body) => reply.header('ETag', `"${versionOf(body)}"`)));
    }
  }
  return mixin(VersionETagInterceptor);
}
