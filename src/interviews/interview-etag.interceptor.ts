import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { Response } from 'express';
import { type Observable, tap } from 'rxjs';

import type { InterviewDetailsDto } from './dto/interview.dto.js';

/**
 * A strong `ETag: "<version>"` on every answer that carries an interview: the frontend sends it
 * back as If-Match, and a change based on an older version is refused with 412.
 */
@Injectable()
export class InterviewETag implements NestInterceptor {
  intercept(
    context: ExecutionContext,
    next: CallHandler<InterviewDetailsDto>,
  ): Observable<InterviewDetailsDto> {
    const res = context.switchToHttp().getResponse<Response>();
    return next
      .handle()
      .pipe(tap((details) => res.setHeader('ETag', `"${details.interview.version}"`)));
  }
}
