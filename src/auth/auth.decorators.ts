import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';

import type { AuthUser, Role } from './roles.js';

export const IS_PUBLIC = 'auth:public';
export const REQUIRED_ROLES = 'auth:roles';

/** No token needed (health, WeCom callbacks, OAuth). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** Any one of these roles may call the route. */
export const Roles = (...roles: Role[]) => SetMetadata(REQUIRED_ROLES, roles);

export const CurrentUser = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthUser =>
    ctx.switchToHttp().getRequest<{ user: AuthUser }>().user,
);
