import {
  type ArgumentsHost,
  BadGatewayException,
  BadRequestException,
  ConflictException,
  ForbiddenException,
  HttpException,
  InternalServerErrorException,
  Logger,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { errorCodes } from 'fastify';

import { AppLogger } from './app-logger.js';
import { HttpExceptionFilter, toProblem } from './http-exception.filter.js';
import { ProblemType } from './problem-details.js';
import { ValidationProblemException } from './validation-problem.js';

interface JsonLine {
  level: string;
  context: string;
  message: string;
  stack?: unknown;
}

/** Runs `fn` with stdout and stderr captured; returns the JSON lines the app logger wrote. */
function logged(fn: () => void): JsonLine[] {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((s) => s.write);
  for (const stream of streams) {
    stream.write = ((chunk: unknown) => {
      chunks.push(String(chunk));
      return true;
    }) as typeof stream.write;
  }
  try {
    fn();
  } finally {
    streams.forEach((s, i) => (s.write = originals[i]!));
  }
  return chunks
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as JsonLine);
}

/** A Fastify request and reply, as far as the filter uses them. */
function hostFor(method: string, url: string) {
  const res = {
    statusCode: 0,
    contentType: '',
    body: undefined as unknown,
    sent: false,
    status(code: number) {
      this.statusCode = code;
      return this;
    },
    type(contentType: string) {
      this.contentType = contentType;
      return this;
    },
    send(body: unknown) {
      this.body = body;
      return this;
    },
  };
  const req = { method, url, id: 'req-1' };
  const host = {
    switchToHttp: () => ({ getResponse: () => res, getRequest: () => req }),
  } as unknown as ArgumentsHost;
  return { host, res };
}

describe(HttpExceptionFilter.name, () => {
  const sut = new HttpExceptionFilter();

  beforeAll(() => Logger.overrideLogger(new AppLogger('json', 'debug')));
  afterAll(() => Logger.overrideLogger(true));

  function fail(exception: unknown, method = 'POST', path = '/wecom/callback') {
    const { host, res } = hostFor(method, path);
    const lines = logged(() => sut.catch(exception, host));
    return { lines, status: res.statusCode, body: res.body, contentType: res.contentType };
  }

  it.each([
    new BadRequestException('title must be 1-200 characters'),
    new UnauthorizedException('Missing bearer token'),
    new ForbiddenException('admin only'),
    new NotFoundException('Interview not found'),
    new PayloadTooLargeException('Request body is too large'),
  ])('a $status is answered and logged at debug level only, without a stack', (exception) => {
    const { lines, status } = fail(exception);
    expect(status).toBe(exception.getStatus());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'debug',
      context: 'HttpException',
      message: `POST /wecom/callback failed: ${exception.message} (${status})`,
    });
    expect(lines[0].stack).toBeUndefined();
  });

  it('a 404 for an unknown route does not log the query string it came with', () => {
    const { lines } = fail(
      new NotFoundException('Cannot GET /no-such-page?access_token=live-token-123'),
      'GET',
      '/no-such-page',
    );
    expect(lines).toHaveLength(1);
    expect(lines[0].message).toBe('GET /no-such-page failed: Cannot GET /no-such-page (404)');
  });

  it('the 503 of an unconfigured feature is one warning, without a stack', () => {
    const { lines, status, body, contentType } = fail(
      new ServiceUnavailableException('WeCom callback is not configured'),
    );
    expect(status).toBe(503);
    expect(contentType).toBe('application/problem+json');
    expect(body).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'WeCom callback is not configured',
      requestId: 'req-1',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      context: 'HttpException',
      message: 'POST /wecom/callback failed: WeCom callback is not configured (503)',
    });
    expect(lines[0].stack).toBeUndefined();
  });

  it('a deliberate 502 (WeCom failed us) is a warning too', () => {
    const { lines } = fail(
      new BadGatewayException('WeCom did not issue a JS-SDK ticket; try again'),
    );
    expect(lines.map((l) => [l.level, l.stack])).toEqual([['warn', undefined]]);
  });

  it('an unexpected error is an ERROR with its stack, and the caller sees none of it', () => {
    const boom = new TypeError("Cannot read properties of undefined (reading 'corpId')");
    const { lines, status, body } = fail(boom, 'GET', '/api/admin/config');
    expect(status).toBe(500);
    expect(JSON.stringify(body)).not.toContain('corpId');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      context: 'HttpException',
      message:
        "GET /api/admin/config failed: Cannot read properties of undefined (reading 'corpId')",
    });
    expect(String(lines[0].stack)).toContain('http-exception.filter.spec.ts');
  });

  it('a 500 HttpException nobody meant to answer with is an ERROR with its stack', () => {
    const { lines } = fail(new InternalServerErrorException('half-written state'));
    expect(lines.map((l) => l.level)).toEqual(['error']);
    expect(String(lines[0].stack)).toMatch(/\n\s+at /);
  });
});

describe(toProblem.name, () => {
  it('answers an HttpException as problem details, its message the detail', () => {
    expect(toProblem(new NotFoundException('Interview not found'), 'req-1')).toEqual({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'Interview not found',
      requestId: 'req-1',
    });
  });

  it('keeps the extension members of an exception body, and the type it names', () => {
    const conflict = new ConflictException({
      type: ProblemType.versionConflict,
      message: 'Interview changed since version 1 (now version 2)',
      version: 2,
      statusCode: 409,
      error: 'Conflict',
      status: 200,
    });
    expect(toProblem(conflict, 'req-1')).toEqual({
      type: ProblemType.versionConflict,
      title: 'The resource changed since the version given',
      status: 409,
      detail: 'Interview changed since version 1 (now version 2)',
      requestId: 'req-1',
      version: 2,
    });
  });

  it('gives the statuses that mean one thing here their type', () => {
    const types = [412, 415, 429, 502].map((s) => toProblem(new HttpException('x', s)).type);
    expect(types).toEqual([
      ProblemType.preconditionFailed,
      ProblemType.unsupportedMediaType,
      ProblemType.rateLimited,
      ProblemType.wecomUnavailable,
    ]);
    expect(toProblem(new HttpException('x', 422))).toMatchObject({
      type: 'about:blank',
      title: 'Unprocessable Content',
    });
  });

  it('ignores a type that is not one of ours', () => {
    const odd = new BadRequestException({ type: 'https://evil.example/x', message: 'no' });
    expect(toProblem(odd).type).toBe('about:blank');
  });

  it('lists the fields of a validation problem', () => {
    const problem = toProblem(
      new ValidationProblemException([
        { field: 'quietHours.start', message: 'quietHours.start must be HH:MM' },
        { field: 'limit', message: 'limit must be an integer between 1 and 200' },
      ]),
      'req-1',
    );
    expect(problem).toEqual({
      type: ProblemType.validation,
      title: 'The request has invalid fields',
      status: 400,
      detail: '2 fields are invalid: quietHours.start, limit',
      requestId: 'req-1',
      errors: [
        { field: 'quietHours.start', message: 'quietHours.start must be HH:MM' },
        { field: 'limit', message: 'limit must be an integer between 1 and 200' },
      ],
    });
  });

  it('a 500 says nothing of the error', () => {
    const problem = toProblem(new Error('relation "interviews" does not exist'), 'req-1');
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'Something went wrong on our side; quote the request id when reporting it.',
      requestId: 'req-1',
    });
  });

  it('a no-route 404 loses its query string, a 413 and a JSON parse error their own words', () => {
    expect(toProblem(new NotFoundException('Cannot GET /x?access_token=abc')).detail).toBe(
      'Cannot GET /x',
    );
    expect(toProblem(new PayloadTooLargeException('Callback body exceeds 1 bytes'))).toMatchObject({
      title: 'Content Too Large',
      detail: 'Request body is too large',
    });
    // As the Fastify adapter hands its parser's error on: an HttpException with it as the cause.
    const parserError = new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY();
    const parse = new HttpException(parserError.message, 400, { cause: parserError });
    expect(toProblem(parse).detail).toBe('Request body is not valid JSON');
  });
});
