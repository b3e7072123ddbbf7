import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { Observable } from 'rxjs';

import { organizationScope, type OrganizationScope } from '../common/organization-scope.js';

/**
 * A request whose organisation the AuthGuard resolved from its token
 * (OrganizationsService.resolveForRequest).
 */
export interface RequestWithOrganization {
  organization?: OrganizationScope;
}

/**
 * Runs the handler (and the pipes and route interceptors after this one) inside the
 * organisation the AuthGuard resolved for the request, so every transaction it opens is that
 * organisation's. A guard decides but cannot wrap what follows it, hence this global
 * interceptor. Public routes and the operators' routes have no organisation here: the few of
 * them that need one set it themselves.
 */
@Injectable()
export class OrganizationScopeInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const scope = context.switchToHttp().getRequest<RequestWithOrganization>().organization;
    if (!scope) return next.handle();
    // Nest binds what follows to the async context in which handle() is called.
    return organizationScope.run(scope, () => next.handle());
  }
}
