import { BadRequestException } from '@nestjs/common';
import type { ValidationError } from 'class-validator';

import { childPath, leadingPath } from './field-path.js';
import { type FieldError, ProblemType } from './problem-details.js';

/**
 * Constraints that check what kind of value a field holds. When one of them fails, the other
 * constraints of the field are moot ("must be 1-200 characters" of a number), so only the type
 * is reported.
 */
const TYPE_CONSTRAINTS = new Set([
  'isString',
  'isInt',
  'isNumber',
  'isBoolean',
  'isArray',
  'isObject',
  'isDate',
  'nestedValidation',
]);

/** A 400 whose body lists the fields at fault (`type` …:validation, `errors`). */
export class ValidationProblemException extends BadRequestException {
  readonly fieldErrors: FieldError[];

  constructor(errors: FieldError[]) {
    const unique = dedupe(errors);
    super({ type: ProblemType.validation, message: summarise(unique), errors: unique });
    this.fieldErrors = unique;
  }

  /** From messages that start with the field they are about (`news.articles[0].url must …`). */
  static fromMessages(messages: string[]): ValidationProblemException {
    return new ValidationProblemException(
      messages.map((message) => ({ field: leadingPath(message), message })),
    );
  }
}

/** The global ValidationPipe's exceptionFactory. */
export function validationProblem(errors: ValidationError[]): ValidationProblemException {
  return new ValidationProblemException(fieldErrorsOf(errors));
}

/**
 * class-validator's tree, flattened: one entry per failed constraint, each field named by its
 * whole path once (`quietHours.start`, `to[2].platformUserId`).
 */
export function fieldErrorsOf(
  errors: ValidationError[],
  parent = '',
  inArray = false,
): FieldError[] {
  const found: FieldError[] = [];
  for (const error of errors) {
    const key = inArray && /^\d+$/.test(error.property) ? Number(error.property) : error.property;
    const path = childPath(parent, key);
    const constraints = Object.entries(error.constraints ?? {});
    const typeFailures = constraints.filter(([name]) => TYPE_CONSTRAINTS.has(name));
    for (const [name, text] of typeFailures.length > 0 ? typeFailures : constraints) {
      found.push({ field: path, message: phrase(name, text, error.property, path) });
    }
    if (error.children?.length) {
      found.push(...fieldErrorsOf(error.children, path, Array.isArray(error.value)));
    }
  }
  return found;
}

/** The message with the field named by its whole path, as a form or a log line shows it. */
function phrase(constraint: string, text: string, property: string, path: string): string {
  if (constraint === 'whitelistValidation') return `${path} is not a field of this request`;
  if (constraint === 'nestedValidation') return `${path} must be an object`;
  const own = `${property} `;
  return path !== property && text.startsWith(own) ? `${path} ${text.slice(own.length)}` : text;
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.field}\u0000${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `limit must be …` for one problem; `2 fields are invalid: quietHours.start, limit` for more. */
function summarise(errors: FieldError[]): string {
  if (errors.length === 0) return 'The request is not valid';
  if (errors.length === 1) return errors[0].message;
  const fields = [...new Set(errors.map((e) => e.field || 'the request'))];
  if (fields.length === 1) return errors.map((e) => e.message).join('; ');
  return `${fields.length} fields are invalid: ${fields.join(', ')}`;
}
