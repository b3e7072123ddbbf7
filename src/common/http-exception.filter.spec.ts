import {
  type ArgumentsHost,
  BadGatewayException,
  BadRequestException,
  ForbiddenException,
  InternalServerErrorException,
  Logger,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';

import { AppLogger } from './app-logger.js';
import { HttpExceptionFilter } from './http-exception.filter.js';

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

function hostFor(method: string, path: string) {
  const res = {
    statusCode: 0,
    body: undefined as unknown,
    headersSent: false,
    status(code: number) {
      this.statusCode = code;
      return this;
    },
    json(body: unknown) {
      this.body = body;
      return this;
    },
  };
  const req = { method, path, requestId: 'req-1' };
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
    return { lines, status: res.statusCode, body: res.body };
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
    const { lines, status, body } = fail(
      new ServiceUnavailableException('WeCom callback is not configured'),
    );
    expect(status).toBe(503);
    expect(body).toMatchObject({ statusCode: 503, message: 'WeCom callback is not configured' });
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
