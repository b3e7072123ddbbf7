import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';

import type { AuthUser, Role } from './roles.js';

export const IS_PUBLIC = 'auth:public';
export const REQUIRED_ROLES = 'auth:roles';
export const ROLE_OPTIONAL = 'auth:role-optional';
export const NO_ORGANIZATION = 'auth:no-organization';

/** No token needed (health, WeCom callbacks, OAuth). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** Any one of these roles may call the route (without @Roles: any one known role). */
export const Roles = (...roles: Role[]) => SetMetadata(REQUIRED_ROLES, roles);

/**
 * A valid token is enough, even one with no known role. Only for routes that tell the caller
 * about their own token (/api/me), so a frontend can say "you have no access here".
 */
export const RoleOptional = () => SetMetadata(ROLE_OPTIONAL, true);

/**
 * The route works on organisations, not inside one (the operators' /api/organizations): the
 * token's `org` claim is not resolved and the handler runs in no organisation's scope. Every
 * other guarded route runs inside the organisation the token names.
 */
export const NoOrganization = () => SetMetadata(NO_ORGANIZATION, true);

export const CurrentUser = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthUser =>
    ctx.switchToHttp().getRequest<{ user: AuthUser }>().user,
);
