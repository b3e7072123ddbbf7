import { parse as parseQueryString } from 'node:querystring';

import { ValidationPipe } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import { answerRouterError, HttpExceptionFilter } from './common/http-exception.filter.js';
import { InputShapePipe } from './common/input-shape.pipe.js';
import { requireJsonBody } from './common/json-body.hook.js';
import { requestContextHook, requestIdHook, requestIdOf } from './common/request-id.hook.js';
import { SECURITY_HEADERS, securityHeadersHook } from './common/security-headers.hook.js';
import { validationProblem } from './common/validation-problem.js';
import { parseTrustProxy } from './config/trust-proxy.js';
import { serveConsole } from './console/console-static.js';
import { httpMetricsHook } from './metrics/http-metrics.hook.js';
import { MetricsService } from './metrics/metrics.service.js';
import { createOpenApiDocument } from './openapi/openapi-document.js';

/** JSON bodies of /api routes; a larger one is a 413 (Fastify's own limit, read as it streams). */
export const JSON_BODY_LIMIT = 256 * 1024;

/** Form bodies (outside /api, which refuses them). */
export const FORM_BODY_LIMIT = 64 * 1024;

/**
 * The HTTP server (Fastify) as main.ts, the OpenAPI CLI and the e2e specs create it; options
 * that Fastify takes only when it is created live here, the rest in configureApp.
 */
export function createHttpAdapter(env: { TRUST_PROXY?: string }): FastifyAdapter {
  // Only proxies named in TRUST_PROXY may set req.ip (the per-address rate limit's key).
  const trust = parseTrustProxy(env.TRUST_PROXY);
  return new FastifyAdapter({
    // A hop count as Express reads it (the n nearest hops are proxies); Fastify would read a
    // number as trusting no hop at all.
    trustProxy: typeof trust === 'number' ? (_address, hop) => hop < trust : trust,
    bodyLimit: JSON_BODY_LIMIT,
    // request.id is the request id: the caller's X-Request-Id when it is sane (request-id.hook).
    genReqId: requestIdOf,
    requestIdHeader: false,
    // Nest logs what matters (AppLogger, the exception filter); Fastify's logger stays off.
    logger: false,
    // Express had no limit of its own: a long path segment is routed, and answered by the
    // route (the URL is bounded by Node's 16 kB of headers).
    routerOptions: { maxParamLength: 16 * 1024 },
    // The router refuses a path it cannot decode before any hook runs: it gets the headers the
    // hooks set and the problem shape all the same.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      reply.headers(SECURITY_HEADERS).header('x-request-id', request.id);
      answerRouterError(error, request, reply);
    },
  });
}

/**
 * Everything main.ts applies to the HTTP app, shared with the e2e specs so they test the
 * same hooks, parsers, pipes, filters and headers as production.
 */
export function configureApp(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', securityHeadersHook);
  fastify.addHook('onRequest', requestIdHook);
  fastify.addHook('onResponse', httpMetricsHook(app.get(MetricsService)));
  // Before the parsers: a body of another media type is refused unread.
  fastify.addHook('onRequest', requireJsonBody);
  // Handlers run in the request's log context also when its body was read first (the parser's
  // stream callbacks do not carry it).
  fastify.addHook('preHandler', requestContextHook);
  // Forms are parsed (outside /api, where the WeCom callback refuses one as not XML); other
  // bodies but JSON are left unread: /api refused them above, and the callback reads its XML
  // itself, with a limit of its own (read-callback-body.ts).
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
    (_req, body, done) => done(null, parseQueryString(body as string)),
  );
  // A POST with nothing to send may still declare JSON: no body, as Express had it, not a 400.
  const json = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) =>
    body === '' ? done(null, undefined) : json(req, body as string, done),
  );
  fastify.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  // Browsers may call the API from the ShowMeBug frontend's origin only (no CORS without it).
  const frontend = app.get(ConfigService).get<string>('FRONTEND_URL');
  if (frontend) {
    app.enableCors({
      origin: [new URL(frontend).origin],
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'ETag'],
      maxAge: 600,
    });
  }
  // The admin console's static files at /admin, with a CSP of its own (src/console/).
  serveConsole(fastify);
  app.useGlobalPipes(
    // First: NUL, lone surrogates and deep nesting are refused before validation recurses.
    new InputShapePipe(),
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      stopAtFirstError: false,
      // errors: [{ field, message }] with each field's whole path, for a form to show.
      exceptionFactory: validationProblem,
    }),
  );
  app.useGlobalFilters(new HttpExceptionFilter());
  app.enableShutdownHooks();

  const document = createOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
