import type { INestApplication, Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';

import {
  IS_PUBLIC,
  NO_ORGANIZATION,
  REQUIRED_ROLES,
  ROLE_OPTIONAL,
} from '../../src/auth/auth.decorators.js';
import type { Role } from '../../src/auth/roles.js';

/** One method + path that Fastify will answer, e.g. `GET /api/interviews/:id`. */
export interface ServedRoute {
  method: string;
  path: string;
}

/** A route some controller declared, with what the guard reads from its metadata. */
export interface ControllerRoute extends ServedRoute {
  controller: string;
  handler: string;
  isPublic: boolean;
  /** undefined: any authenticated caller with at least one known role. */
  roles: Role[] | undefined;
  /** @RoleOptional(): a valid token with no known role is enough. */
  roleOptional: boolean;
  /** @NoOrganization(): works on organisations (operators), not inside the token's one. */
  noOrganization: boolean;
}

const key = (r: ServedRoute) => `${r.method} ${r.path}`;

const recorded = new WeakMap<FastifyInstance, ServedRoute[]>();

/**
 * Records every route Fastify adds from now on, plugins' (Swagger's assets) included: Fastify
 * lists its routes only as they are added (`onRoute`), so this runs before `app.init()`.
 */
export function recordRoutes(fastify: FastifyInstance): void {
  const routes: ServedRoute[] = [];
  recorded.set(fastify, routes);
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, path: route.url });
  });
}

/**
 * What the Fastify router really serves: every route, but the HEAD route Fastify adds beside
 * each GET (it answers as the GET does).
 */
export function servedRoutes(app: INestApplication): ServedRoute[] {
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  const routes = recorded.get(fastify);
  if (!routes) throw new Error('servedRoutes: the app was not made by initHttpApp');
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.path));
  return routes.filter((r) => !(r.method === 'HEAD' && gets.has(r.path)));
}

/**
 * Every handler of every controller in the app, found through Nest's module container (not a
 * list kept by hand), with its path computed the way Nest's router does it.
 */
export function controllerRoutes(app: INestApplication): ControllerRoute[] {
  const reflector = app.get(Reflector);
  const scanner = new MetadataScanner();
  const found: ControllerRoute[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type<unknown> | undefined;
      if (!controller?.prototype) continue;
      const base = asArray(Reflect.getMetadata(PATH_METADATA, controller) as string | string[]);
      for (const name of scanner.getAllMethodNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, unknown>)[name] as object;
        const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
        if (sub === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
        const targets = [handler as never, controller];
        for (const b of base) {
          for (const s of asArray(sub)) {
            found.push({
              method,
              path: joinPath(b, s),
              controller: controller.name,
              handler: name,
              isPublic: reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets) === true,
              roles: reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets),
              roleOptional: reflector.getAllAndOverride<boolean>(ROLE_OPTIONAL, targets) === true,
              noOrganization:
                reflector.getAllAndOverride<boolean>(NO_ORGANIZATION, targets) === true,
            });
          }
        }
      }
    }
  }
  return found;
}

/** A request path for a route pattern: ids become a random UUID, other parameters `x`. */
export function concretePath(pattern: string, id: string): string {
  return pattern
    .replace(/:id\b/g, id)
    .replace(/:[A-Za-z_]\w*/g, 'x')
    .replace(/\*[A-Za-z_]\w*/g, 'x')
    .replace(/[{}]/g, '');
}

export function routeKey(r: ServedRoute): string {
  return key(r);
}

function asArray(value: string | string[] | undefined): string[] {
  if (value === undefined) return ['/'];
  return Array.isArray(value) ? value : [value];
}

function joinPath(...parts: string[]): string {
  const joined = parts
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/');
  return `/${joined}`;
}
