import { type INestApplication, ValidationPipe } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SwaggerModule } from '@nestjs/swagger';
import type { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';

import { HttpExceptionFilter } from './common/http-exception.filter.js';
import { serveConsole } from './console/console-static.js';
import { InputShapePipe } from './common/input-shape.pipe.js';
import { requireJsonBody } from './common/json-body.middleware.js';
import { requestIdMiddleware } from './common/request-id.middleware.js';
import { validationProblem } from './common/validation-problem.js';
import { parseTrustProxy } from './config/trust-proxy.js';
import { httpMetricsMiddleware } from './metrics/http-metrics.middleware.js';
import { MetricsService } from './metrics/metrics.service.js';
import { createOpenApiDocument } from './openapi/openapi-document.js';

/**
 * Everything main.ts applies to the HTTP app, shared with the e2e specs so they test the
 * same pipes, filters and headers as production.
 */
export function configureApp(app: INestApplication): void {
  const express = app as NestExpressApplication;
  express.disable('x-powered-by');
  // Only proxies named in TRUST_PROXY may set req.ip (the per-address rate limit's key).
  express.set('trust proxy', parseTrustProxy(app.get(ConfigService).get<string>('TRUST_PROXY')));
  app.use(requestIdMiddleware);
  app.use(httpMetricsMiddleware(app.get(MetricsService)));
  app.use(helmet());
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
  serveConsole(express);
  // Before the parsers: a body of another media type is refused unread.
  app.use(requireJsonBody);
  express.useBodyParser('json', { limit: '256kb' });
  express.useBodyParser('urlencoded', { limit: '64kb', extended: false });
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
