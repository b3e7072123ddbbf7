import type { ExampleObject, SchemaObject } from '@nestjs/swagger';

import { PROBLEM_CONTENT_TYPE, problemKind, ProblemType } from '../common/problem-details.js';

/** The filter's content type (common/problem-details.ts), under the name the document uses. */
export const PROBLEM_MEDIA_TYPE = PROBLEM_CONTENT_TYPE;

/** Every error answer's body (RFC 9457), documented once and referenced by every 4xx/5xx. */
export const PROBLEM_DETAILS_SCHEMA: SchemaObject = {
  type: 'object',
  description:
    'An error, as RFC 9457 problem details. Extension members may follow (e.g. `errcode` when ' +
    'WeCom refused something, `version` on a stale change, `holder` on a mapping conflict).',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: {
      type: 'string',
      format: 'uri-reference',
      description: 'What kind of problem; `about:blank` when the status says it all',
      example: 'about:blank',
    },
    title: {
      type: 'string',
      description: 'The status in words, the same for every problem of this type',
      example: 'Bad Request',
    },
    status: { type: 'integer', minimum: 400, maximum: 599, example: 400 },
    detail: {
      type: 'string',
      description: 'What went wrong this time, in words a form can show',
      example: 'reminderLeadTimesMin must be an array of integers',
    },
    requestId: {
      type: 'string',
      description: 'Quote it when reporting a problem (also the X-Request-Id header)',
      example: 'b5d0c6a2-3f61-4a1e-9d7b-5f0c2e8a1d34',
    },
    errors: {
      type: 'array',
      description: 'On a validation failure: one entry per problem, by field path',
      items: { $ref: '#/components/schemas/FieldError' },
    },
  },
  additionalProperties: true,
};

export const FIELD_ERROR_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['field', 'message'],
  properties: {
    field: {
      type: 'string',
      description: 'The full path of the field, e.g. `quietHours.start` or `to[0].wecomUserId`',
      example: 'quietHours.start',
    },
    message: { type: 'string', example: 'quietHours.start must be HH:MM (00:00 to 23:59)' },
  },
  additionalProperties: false,
};

/** What each status means on this API when a route says no more. */
export const DEFAULT_PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not valid; `errors` names each field and why',
  401: 'No bearer token, or one that is not valid (expired, wrong signature), or one whose `org` claim names no known organisation (or none, where there are several)',
  403: 'The token is valid but its roles do not allow this, or its organisation is suspended',
  404: 'No such resource (or not one the caller may see)',
  409: 'The resource is not in a state that allows this',
  412: 'If-Match names a version that is no longer current',
  413: 'The request body is too large',
  415: 'The request body is not application/json',
  422: 'WeCom refused it; `errcode` says why',
  429: 'Too many requests; try again after Retry-After seconds',
  502: 'WeCom could not be reached or failed; nothing was changed',
  503: 'A feature this route needs is not configured',
};

const EXAMPLE_DETAILS: Record<number, string> = {
  400: 'quietHours.start must be HH:MM (00:00 to 23:59)',
  401: 'Missing bearer token',
  403: 'Requires one of the roles: admin, recruiter',
  404: 'Interview not found',
  409: 'Interview is already canceled',
  412: 'Interview changed since version 3 (now version 4); reload it and try again',
  413: 'Request body is too large',
  415: 'Content-Type must be application/json',
  422: 'WeCom refused the new credentials (errcode 40001); the configuration in force is unchanged',
  429: 'Too many requests; try again in 30 seconds',
  502: 'WeCom could not be reached; try again',
  503: 'WeCom sign-in is not configured (FRONTEND_URL).',
};

/**
 * An example body for `status` that validates against PROBLEM_DETAILS_SCHEMA, with the type and
 * title the filter gives that status (problemKind): a 400 is the validation problem.
 */
export function problemExample(status: number): ExampleObject {
  const { type, title } = problemKind(status, status === 400 ? ProblemType.validation : undefined);
  const value: Record<string, unknown> = {
    type,
    title,
    status,
    detail: EXAMPLE_DETAILS[status] ?? title,
    requestId: 'b5d0c6a2-3f61-4a1e-9d7b-5f0c2e8a1d34',
  };
  if (status === 400) {
    value.errors = [{ field: 'quietHours.start', message: EXAMPLE_DETAILS[400] }];
  }
  return { summary: title, value };
}
