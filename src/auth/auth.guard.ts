import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';

import { scopeOf } from '../organizations/organization.js';
import type { RequestWithOrganization } from '../organizations/organization-scope.interceptor.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { IS_PUBLIC, NO_ORGANIZATION, REQUIRED_ROLES, ROLE_OPTIONAL } from './auth.decorators.js';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier.js';
import { settleDeferredAddressLimit } from './rate-limit.guard.js';
import { ORGANIZATION_ROLES, type AuthUser, type Role } from './roles.js';

/**
 * Global guard: every controller route needs a valid bearer token unless marked @Public()
 * (health, metrics, WeCom callbacks and sign-in are); routes with @Roles() also need one of
 * those roles, and routes without it one of an organisation's roles (a token with `roles: []`
 * is signed in but may do nothing) unless marked @RoleOptional().
 *
 * Then the organisation: every guarded route except the operators' (@NoOrganization()) runs
 * inside the organisation the token's `org` claim names (OrganizationsService.resolveForRequest:
 * 401 for an unknown one or a missing claim among several, 403 for a suspended one), which
 * OrganizationScopeInterceptor then sets around the handler. Operators get a 403 there: they
 * work on organisations, not inside one. Public routes take no organisation from a token.
 *
 * The decision rests on the route's metadata, never on the request path: a path test and the
 * router can disagree (Express matched `GET /API/messages` as /api/messages; a change of
 * router options could again).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: JwtVerifier,
    private readonly organizations: OrganizationsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    try {
      return await this.authenticate(context);
    } catch (error) {
      // A refused request still counts against its address, and over its limit gets the 429.
      await settleDeferredAddressLimit(context.switchToHttp().getRequest());
      throw error;
    }
  }

  private async authenticate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context
      .switchToHttp()
      .getRequest<FastifyRequest & RequestWithOrganization & { user?: AuthUser }>();
    const targets = [context.getHandler(), context.getClass()];
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets);
    if (isPublic) return true;

    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new UnauthorizedException('Missing bearer token');
    try {
      req.user = await this.verifier.verify(match[1]);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw new UnauthorizedException(error.message);
      throw error;
    }
    const required = this.reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets);
    if (required) {
      if (!required.some((role) => req.user!.roles.includes(role))) {
        throw new ForbiddenException(`Requires one of the roles: ${required.join(', ')}`);
      }
    } else if (
      !req.user.roles.some(isOrganizationRole) &&
      !this.reflector.getAllAndOverride<boolean>(ROLE_OPTIONAL, targets)
    ) {
      throw new ForbiddenException(`Requires one of the roles: ${ORGANIZATION_ROLES.join(', ')}`);
    }
    if (this.reflector.getAllAndOverride<boolean>(NO_ORGANIZATION, targets)) return true;
    // An operator works on organisations, never inside one, whatever its token names.
    if (req.user.roles.includes('operator') && !req.user.roles.some(isOrganizationRole)) {
      throw new ForbiddenException(
        'Operators manage organisations (/api/organizations) and have no access inside one',
      );
    }
    // The handler runs in this organisation (OrganizationScopeInterceptor).
    req.organization = scopeOf(await this.organizations.resolveForRequest(req.user));
    return true;
  }
}

function isOrganizationRole(role: Role): boolean {
  return (ORGANIZATION_ROLES as readonly Role[]).includes(role);
}
