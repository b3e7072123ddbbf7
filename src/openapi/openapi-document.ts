import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type INestApplication, RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import {
  DocumentBuilder,
  type OpenAPIObject,
  type OperationObject,
  type ResponseObject,
  SwaggerModule,
} from '@nestjs/swagger';

import {
  IS_PUBLIC,
  NO_ORGANIZATION,
  REQUIRED_ROLES,
  ROLE_OPTIONAL,
} from '../auth/auth.decorators.js';
import { SKIP_RATE_LIMIT } from '../auth/rate-limit.guard.js';
import { ORGANIZATION_ROLES, type Role } from '../auth/roles.js';
import {
  DEFAULT_PROBLEM_DESCRIPTIONS,
  FIELD_ERROR_SCHEMA,
  PROBLEM_DETAILS_SCHEMA,
  PROBLEM_MEDIA_TYPE,
  problemExample,
} from './problem-details.schema.js';

/** Set on a controller whose errors are not problem details (the sign-in pages are HTML). */
export const ERROR_MEDIA_TYPE_EXTENSION = 'x-error-media-type';

const BEARER = 'bearer';

/**
 * The OpenAPI document served at /docs-json and written by `npm run openapi` for the typed
 * client. Nest builds it from the decorators; what the guards and pipes add to every route
 * (the bearer token, roles, the rate limit, validation, the body parser) is added here from the
 * same route metadata the guards read, so the document cannot promise less than they do.
 */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const pkg = packageJson();
  const config = new DocumentBuilder()
    .setTitle('ShowMeBug × WeCom')
    .setDescription(
      'Interview notifications, reminders and sign-in through WeCom (企业微信).\n\n' +
        'Errors are RFC 9457 problem details (`application/problem+json`), the same shape on ' +
        'every route. Every response carries an `X-Request-Id` header.',
    )
    .setVersion(pkg.version)
    .setLicense(pkg.license, `https://spdx.org/licenses/${pkg.license}.html`)
    .addServer('/', 'The service that serves this document')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          "A platform JWT (HS256 or the JWKS's keys) with `sub`, `roles` and `org` (the " +
          "organisation's id or slug; optional while there is only one, and for operators)",
      },
      BEARER,
    )
    .addTag('interviews', 'Book, change, cancel and answer interviews')
    .addTag('messages', 'Messages to WeCom members, their history, retry and recall')
    .addTag('user-mappings', 'Which WeCom member each platform user is')
    .addTag('admin', 'The runtime configuration, its audit trail and the WeCom check')
    .addTag('auth', 'Who the caller is, and sign-in with WeCom (browser routes)')
    .addTag('wecom', 'What pages inside WeCom need (JS-SDK signatures)')
    .addTag('organizations', 'The companies this deployment serves (platform operators only)')
    .addTag('health', 'Liveness and the state of the database and WeCom')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.components ??= {};
  document.components.schemas = {
    ...document.components.schemas,
    ProblemDetails: PROBLEM_DETAILS_SCHEMA,
    FieldError: FIELD_ERROR_SCHEMA,
  };
  for (const route of routeTable(app)) {
    const operation = document.paths[route.path]?.[route.method];
    if (operation) completeOperation(operation, route);
  }
  return document;
}

interface RouteFacts {
  /** As in the document: `/api/interviews/{id}`. */
  path: string;
  method: 'get' | 'put' | 'post' | 'delete' | 'patch';
  isPublic: boolean;
  roles: Role[] | undefined;
  roleOptional: boolean;
  noOrganization: boolean;
  rateLimited: boolean;
}

/** Every controller route with what AuthGuard and the rate-limit guards read from it. */
function routeTable(app: INestApplication): RouteFacts[] {
  const reflector = app.get(Reflector);
  const scanner = new MetadataScanner();
  const found: RouteFacts[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type<unknown> | undefined;
      if (!controller?.prototype) continue;
      const base = Reflect.getMetadata(PATH_METADATA, controller) as string;
      for (const name of scanner.getAllMethodNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, object>)[name];
        const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        if (sub === undefined) continue;
        const verb = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
        const targets = [handler as never, controller];
        const path = `/${[base, sub]
          .map((p) => p.replace(/^\/+|\/+$/g, ''))
          .filter(Boolean)
          .join('/')}`;
        found.push({
          path: path.replace(/:(\w+)/g, '{$1}'),
          method: verb.toLowerCase() as RouteFacts['method'],
          isPublic: reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets) === true,
          roles: reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets),
          roleOptional: reflector.getAllAndOverride<boolean>(ROLE_OPTIONAL, targets) === true,
          noOrganization: reflector.getAllAndOverride<boolean>(NO_ORGANIZATION, targets) === true,
          rateLimited: reflector.getAllAndOverride<boolean>(SKIP_RATE_LIMIT, targets) !== true,
        });
      }
    }
  }
  return found;
}

function completeOperation(operation: OperationObject, route: RouteFacts): void {
  const responses = operation.responses;
  const add = (status: number) => {
    responses[status] ??= { description: DEFAULT_PROBLEM_DESCRIPTIONS[status] };
  };
  if (route.isPublic) {
    operation.security = [];
  } else {
    operation.security = [{ [BEARER]: [] }];
    add(401);
    add(403); // a role the route does not allow, or a suspended organisation
    const roles = route.roleOptional ? [] : (route.roles ?? ORGANIZATION_ROLES);
    const who = [
      ...(roles.length > 0 ? [`Roles: ${roles.join(', ')}.`] : []),
      route.noOrganization
        ? 'Works on organisations, outside any: the token needs no `org` claim.'
        : "Runs in the organisation the token's `org` claim names.",
    ].join(' ');
    operation.description = operation.description ? `${operation.description}\n\n${who}` : who;
  }
  const hasInput = Boolean(operation.requestBody) || (operation.parameters ?? []).length > 0;
  if (hasInput) add(400);
  if (route.path.includes('{')) add(404);
  if (operation.requestBody) {
    add(413);
    add(415);
  }
  if (route.rateLimited) add(429);

  const extensions = operation as unknown as Record<string, unknown>;
  const errorMediaType = extensions[ERROR_MEDIA_TYPE_EXTENSION] as string | undefined;
  delete extensions[ERROR_MEDIA_TYPE_EXTENSION];
  for (const [code, response] of Object.entries(responses)) {
    const status = Number(code);
    if (!(status >= 400) || !response || !('description' in response)) continue;
    completeError(status, response, errorMediaType);
  }
  operation.responses = Object.fromEntries(
    Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)),
  );
}

function completeError(status: number, response: ResponseObject, mediaType?: string): void {
  response.description ||= DEFAULT_PROBLEM_DESCRIPTIONS[status] ?? 'An error';
  if (response.content) {
    // The route documents its own body for this status (e.g. /health's 503 is the report).
  } else if (mediaType) {
    response.content = { [mediaType]: { schema: { type: 'string' } } };
  } else {
    response.content = {
      [PROBLEM_MEDIA_TYPE]: {
        schema: { $ref: '#/components/schemas/ProblemDetails' },
        examples: { [String(status)]: problemExample(status) },
      },
    };
  }
  if (status === 429) {
    response.headers = {
      'Retry-After': {
        description: 'Seconds until the window ends',
        schema: { type: 'integer', minimum: 1 },
      },
    };
  }
}

/** The service's package.json (the document's version and licence come from it). */
function packageJson(): { version: string; license: string } {
  // src/openapi/ in specs, dist/src/openapi/ when built: walk up to the project's own file.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version: string;
        license: string;
      };
      if (pkg.name === 'showmebug-wecom') return pkg;
    } catch {
      // none here: keep walking
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json of showmebug-wecom not found');
    dir = parent;
  }
}
