import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Request, Response } from 'express';

import { currentRequestId } from './request-context.js';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
  requestId?: string;
  [extra: string]: unknown;
}

/**
 * The one global filter: every error leaves as `{ statusCode, error, message, requestId }`.
 * HttpExceptions keep their message; anything else is logged with its stack and answered as a
 * bare 500 so no internals (SQL, paths, secrets) reach the caller.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpException');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request & { requestId?: string }>();
    const requestId = req?.requestId ?? currentRequestId();
    const body = toErrorBody(exception, requestId);
    logFailure(this.logger, req, exception, body);
    if (res.headersSent) return;
    res.status(body.statusCode).json(body);
  }
}

/**
 * ERROR means someone should look, so it is kept for what nobody planned: an error that is no
 * HttpException, or a 5xx one other than the answers below. A deliberate 502 (WeCom failed us)
 * or 503 (a feature not configured) is a warning without a stack; a 4xx is the caller's
 * mistake, answered and logged at debug level.
 */
export function logFailure(
  logger: Logger,
  req: Pick<Request, 'method' | 'path'> | undefined,
  exception: unknown,
  answer: Pick<ErrorBody, 'statusCode' | 'message'>,
): void {
  const where = `${req?.method} ${req?.path} failed`;
  const status = answer.statusCode;
  if (exception instanceof HttpException && (status < 500 || status === 502 || status === 503)) {
    // What the caller was told, not the exception's own text (a 404's quotes the query string).
    const told = Array.isArray(answer.message) ? answer.message.join('; ') : answer.message;
    if (status < 500) logger.debug(`${where}: ${told} (${status})`);
    else logger.warn(`${where}: ${told} (${status})`);
    return;
  }
  const err = exception instanceof Error ? exception : new Error(String(exception));
  logger.error(`${where}: ${err.message}`, err.stack);
}

export function toErrorBody(exception: unknown, requestId?: string): ErrorBody {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const cause = (exception as { cause?: { type?: string } }).cause;
    if (status === 400 && cause?.type === 'entity.parse.failed') {
      // Express's parser message quotes the body; say what is wrong instead.
      return {
        statusCode: 400,
        error: 'Bad Request',
        message: 'Request body is not valid JSON',
        requestId,
      };
    }
    if (status === 413) {
      return {
        statusCode: 413,
        error: 'Payload Too Large',
        message: 'Request body is too large',
        requestId,
      };
    }
    if (status === 404 && /^Cannot [A-Z]+ \//.test(exception.message)) {
      // Nest's "no such route" message quotes the whole URL: the query string may carry a token.
      return {
        statusCode: 404,
        error: 'Not Found',
        message: exception.message.replace(/[?#].*$/, ''),
        requestId,
      };
    }
    const base: ErrorBody = {
      statusCode: status,
      error: HttpStatus[status] ? humanize(HttpStatus[status]) : 'Error',
      message: exception.message,
      requestId,
    };
    if (typeof response === 'object' && response !== null) {
      const { statusCode: _s, error, message, ...extra } = response as Record<string, unknown>;
      return {
        ...extra,
        ...base,
        error: typeof error === 'string' ? error : base.error,
        message: (message as string | string[] | undefined) ?? base.message,
      };
    }
    return { ...base, message: typeof response === 'string' ? response : base.message };
  }
  return {
    statusCode: 500,
    error: 'Internal Server Error',
    message: 'Something went wrong on our side; quote the request id when reporting it.',
    requestId,
  };
}

function humanize(constant: string): string {
  return constant
    .toLowerCase()
    .split('_')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(' ');
}
