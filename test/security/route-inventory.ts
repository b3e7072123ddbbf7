import type { INestApplication, Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';

import {
  IS_PUBLIC,
  NO_ORGANIZATION,
  REQUIRED_ROLES,
  ROLE_OPTIONAL,
} from '../../src/auth/auth.decorators.js';
import type { Role } from '../../src/auth/roles.js';

/** One method + path that Express will answer, e.g. `GET /api/interviews/:id`. */
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

/** A middleware mounted on a path other than `/` (it can answer requests the guard never sees). */
export interface MountedMiddleware {
  name: string;
  path: string;
}

interface ExpressLayer {
  name: string;
  rawPath?: string;
  route?: { path: string; methods: Record<string, boolean> };
}

const key = (r: ServedRoute) => `${r.method} ${r.path}`;

/** What the Express router really serves: every route layer, and the mounted middleware. */
export function expressRoutes(app: INestApplication): {
  routes: ServedRoute[];
  mounted: MountedMiddleware[];
} {
  const express = (app as NestExpressApplication).getHttpAdapter().getInstance() as {
    router: { stack: ExpressLayer[] };
  };
  const routes: ServedRoute[] = [];
  const mounted: MountedMiddleware[] = [];
  for (const layer of express.router.stack) {
    if (layer.route) {
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (on)
          routes.push({
            method: method === '_all' ? 'ALL' : method.toUpperCase(),
            path: layer.route.path,
          });
      }
    } else if (layer.rawPath && layer.rawPath !== '/') {
      mounted.push({ name: layer.name, path: layer.rawPath });
    }
  }
  return { routes, mounted };
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
