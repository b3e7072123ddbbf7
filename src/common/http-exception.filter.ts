import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import {
  type FieldError,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  ProblemType,
  problemKind,
} from './problem-details.js';
import { currentRequestId, requestContext } from './request-context.js';

/**
 * The one global filter: every error leaves as RFC 9457 problem details
 * (`application/problem+json`: type, title, status, detail, requestId, and `errors` for
 * validation). HttpExceptions keep their message as `detail`; anything else is logged with its
 * stack and answered as a bare 500 so no internals (SQL, paths, secrets) reach the caller.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpException');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    const requestId = req?.id ?? currentRequestId();
    const problem = toProblem(exception, requestId);
    // An error of the body parser reaches here outside the request's log context.
    if (requestId && currentRequestId() !== requestId) {
      requestContext.run({ requestId }, () => logFailure(this.logger, req, exception, problem));
    } else {
      logFailure(this.logger, req, exception, problem);
    }
    if (reply.sent) return;
    reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  }
}

/**
 * An error of Fastify's router (a path whose %-escapes do not decode), which no filter sees,
 * answered as problem details in our words: its own message quotes the path.
 */
export function answerRouterError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  const detail =
    error.code === 'FST_ERR_BAD_URL'
      ? 'The request path is not valid: a %-escape in it does not decode'
      : (STATUS_CODES[status] ?? 'Error');
  const problem = toProblem(new HttpException(detail, status), request.id);
  requestContext.run({ requestId: request.id }, () =>
    logFailure(routerLogger, request, new HttpException(detail, status), problem),
  );
  void reply.status(status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

const routerLogger = new Logger('HttpException');

/**
 * ERROR means someone should look, so it is kept for what nobody planned: an error that is no
 * HttpException, or a 5xx one other than the answers below. A deliberate 502 (WeCom failed us)
 * or 503 (a feature not configured) is a warning without a stack; a 4xx is the caller's
 * mistake, answered and logged at debug level.
 */
export function logFailure(
  logger: Logger,
  req: Pick<FastifyRequest, 'method' | 'url'> | undefined,
  exception: unknown,
  answer: Pick<ProblemDetails, 'status' | 'detail'>,
): void {
  const where = `${req?.method} ${req?.url.replace(/[?#].*$/, '')} failed`;
  const { status, detail } = answer;
  if (exception instanceof HttpException && (status < 500 || status === 502 || status === 503)) {
    // What the caller was told, not the exception's own text (a 404's quotes the query string).
    if (status < 500) logger.debug(`${where}: ${detail} (${status})`);
    else logger.warn(`${where}: ${detail} (${status})`);
    return;
  }
  const err = exception instanceof Error ? exception : new Error(String(exception));
  logger.error(`${where}: ${err.message}`, err.stack);
}

/** Members an exception's response object may not set: the filter owns them. */
const RESERVED = new Set([
  'statusCode',
  'error',
  'message',
  'type',
  'title',
  'status',
  'detail',
  'instance',
  'requestId',
  'errors',
]);

export function toProblem(exception: unknown, requestId?: string): ProblemDetails {
  if (!(exception instanceof HttpException)) {
    return problem(
      500,
      'Something went wrong on our side; quote the request id when reporting it.',
      requestId,
    );
  }
  const status = exception.getStatus();
  const cause = (exception as { cause?: { code?: string } }).cause;
  if (status === 400 && cause?.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    // Fastify's message names the content-type; say what is wrong instead.
    return problem(400, 'Request body is not valid JSON', requestId);
  }
  if (status === 413) return problem(413, 'Request body is too large', requestId);
  if (status === 404 && /^Cannot [A-Z]+ \//.test(exception.message)) {
    // Nest's "no such route" message quotes the whole URL: the query string may carry a token.
    return problem(404, exception.message.replace(/[?#].*$/, ''), requestId);
  }
  const response = exception.getResponse();
  if (typeof response !== 'object' || response === null) {
    return problem(status, typeof response === 'string' ? response : exception.message, requestId);
  }
  const fields = response as Record<string, unknown>;
  const extensions = Object.fromEntries(Object.entries(fields).filter(([k]) => !RESERVED.has(k)));
  const detail = Array.isArray(fields.message)
    ? fields.message.map(String).join('; ')
    : typeof fields.message === 'string'
      ? fields.message
      : exception.message;
  const errors =
    fields.type === ProblemType.validation && Array.isArray(fields.errors)
      ? (fields.errors as FieldError[])
      : undefined;
  return {
    ...problem(status, detail, requestId, fields.type),
    ...(errors ? { errors } : {}),
    ...extensions,
  };
}

function problem(
  status: number,
  detail: string,
  requestId?: string,
  type?: unknown,
): ProblemDetails {
  return { ...problemKind(status, type), status, detail, ...(requestId ? { requestId } : {}) };
}
