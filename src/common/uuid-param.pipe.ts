import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { isUUID } from 'class-validator';

import { ValidationProblemException } from './validation-problem.js';

/**
 * A path id that must be a UUID (`@Param('id', UuidParam)`). Nest's ParseUUIDPipe answers
 * "Validation failed (uuid is expected)" without saying which parameter; this names it in the
 * validation problem's `errors`, like every other bad input.
 */
@Injectable()
export class UuidParam implements PipeTransform<string, string> {
  transform(value: string, metadata: ArgumentMetadata): string {
    if (typeof value === 'string' && isUUID(value)) return value;
    const field = metadata.data ?? 'id';
    throw new ValidationProblemException([{ field, message: `${field} must be a UUID` }]);
  }
}
