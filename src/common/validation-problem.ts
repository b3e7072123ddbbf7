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
    const listed = unique.slice(0, MAX_FIELD_ERRORS);
    super({ type: ProblemType.validation, message: summarise(unique), errors: listed });
    this.fieldErrors = listed;
  }

  /** From messages that start with the field they are about (`news.articles[0].url must …`). */
  static fromMessages(messages: string[]): ValidationProblemException {
    return new ValidationProblemException(
      messages.map((message) => ({ field: leadingPath(message), message })),
    );
  }
}

/** More would only repeat one mistake (5000 recipients with the same typo). */
export const MAX_FIELD_ERRORS = 50;

/** The global ValidationPipe's exceptionFactory. */
export function validationProblem(errors: ValidationError[]): ValidationProblemException {
  return new ValidationProblemException(fieldErrorsOf(errors));
}

/**
 * class-validator's tree, flattened: each field named by its whole path once
 * (`quietHours.start`, `to[2].platformUserId`), one entry per failed constraint, or only the
 * type when that is what is wrong.
 */
export function fieldErrorsOf(errors: ValidationError[], parent = ''): FieldError[] {
  const found: FieldError[] = [];
  for (const error of errors) {
    // The ValidationPipe strips the value of errors with children, so an array's items are
    // known by their numeric property.
    const key = /^\d+$/.test(error.property) ? Number(error.property) : error.property;
    const path = childPath(parent, key);
    if (error.constraints && 'value' in error && error.value === undefined) {
      // Absent and not optional: every rule of the field fails, but there is one problem.
      found.push({ field: path, message: `${path} is required` });
    } else {
      for (const [name, text] of reported(error.constraints ?? {})) {
        found.push(phrase(name, text, error.property, path));
      }
    }
    if (error.children?.length) found.push(...fieldErrorsOf(error.children, path));
  }
  return found;
}

function reported(constraints: Record<string, string>): [string, string][] {
  const all = Object.entries(constraints);
  const types = all.filter(([name]) => TYPE_CONSTRAINTS.has(name));
  if (types.length === 0) return all;
  // "must be an object" says less than the field's own isObject or isArray message.
  const own = types.filter(([name]) => name !== 'nestedValidation');
  return own.length > 0 ? own : types;
}

/** The message with the field named by its whole path, as a form or a log line shows it. */
function phrase(constraint: string, text: string, property: string, path: string): FieldError {
  if (constraint === 'whitelistValidation') {
    return { field: path, message: `${path} is not a field of this request` };
  }
  if (constraint === 'nestedValidation')
    return { field: path, message: `${path} must be an object` };
  if (text === 'Validation failed (object is expected)') {
    // The ValidationPipe's own error for a body or query that is an array or a primitive.
    return { field: '', message: `the request ${property} must be a JSON object` };
  }
  const own = `${property} `;
  const message =
    path !== property && text.startsWith(own) ? `${path} ${text.slice(own.length)}` : text;
  return { field: path, message };
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
  const named = fields.slice(0, 10).join(', ') + (fields.length > 10 ? ', …' : '');
  const listed =
    errors.length > MAX_FIELD_ERRORS ? ` (the first ${MAX_FIELD_ERRORS} problems are listed)` : '';
  return `${fields.length} fields are invalid: ${named}${listed}`;
}
