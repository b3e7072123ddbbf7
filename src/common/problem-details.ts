import { STATUS_CODES } from 'node:http';

/**
 * RFC 9457 problem details, the body of every error this API answers with (as
 * `application/problem+json`). docs/errors.md lists the types and what a client does with each.
 */
export interface ProblemDetails {
  /** A URI naming the kind of problem: `about:blank` when the status says it all. */
  type: string;
  /** Short and the same for every problem of the type (the status phrase for `about:blank`). */
  title: string;
  status: number;
  /** What went wrong this time, for a person to read. */
  detail: string;
  /** Quote it when reporting a problem; the same id is on every log line of the request. */
  requestId?: string;
  /** Validation problems only: one entry per problem, the field as a path such as `to[0].wecomUserId`. */
  errors?: FieldError[];
  /** Extension members of some types, e.g. `version` on a version conflict. */
  [extension: string]: unknown;
}

export interface FieldError {
  /** `quietHours.start`, `to[2].platformUserId`; `""` for the request as a whole. */
  field: string;
  message: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Not a locator: a client compares the whole string, nothing is served at it. */
const TYPE_PREFIX = 'urn:showmebug-wecom:problem:';

/** The problem types a client may branch on; anything else is `about:blank`. */
export const ProblemType = {
  validation: `${TYPE_PREFIX}validation`,
  versionConflict: `${TYPE_PREFIX}version-conflict`,
  preconditionFailed: `${TYPE_PREFIX}precondition-failed`,
  unsupportedMediaType: `${TYPE_PREFIX}unsupported-media-type`,
  rateLimited: `${TYPE_PREFIX}rate-limited`,
  wecomCredentialsRejected: `${TYPE_PREFIX}wecom-credentials-rejected`,
  wecomUnavailable: `${TYPE_PREFIX}wecom-unavailable`,
  wecomAppTaken: `${TYPE_PREFIX}wecom-app-taken`,
  unknownOrganization: `${TYPE_PREFIX}unknown-organization`,
  organizationUnnamed: `${TYPE_PREFIX}organization-unnamed`,
  organizationSuspended: `${TYPE_PREFIX}organization-suspended`,
  organizationsNotIsolated: `${TYPE_PREFIX}organizations-not-isolated`,
} as const;

export type ProblemTypeUri = (typeof ProblemType)[keyof typeof ProblemType];

export const PROBLEM_TITLES: Record<ProblemTypeUri, string> = {
  [ProblemType.validation]: 'The request has invalid fields',
  [ProblemType.versionConflict]: 'The resource changed since the version given',
  [ProblemType.preconditionFailed]: 'If-Match does not match the current version',
  [ProblemType.unsupportedMediaType]: 'The request body is not in a media type this route takes',
  [ProblemType.rateLimited]: 'Too many requests',
  [ProblemType.wecomCredentialsRejected]: 'WeCom refused the credentials',
  [ProblemType.wecomUnavailable]: 'WeCom could not be reached or failed',
  [ProblemType.wecomAppTaken]: 'This WeCom app is configured for another organisation',
  [ProblemType.unknownOrganization]: 'The token names no known organisation',
  [ProblemType.organizationUnnamed]: 'The token must name its organisation',
  [ProblemType.organizationSuspended]: 'The organisation is suspended',
  [ProblemType.organizationsNotIsolated]:
    'The database cannot keep a second organisation apart from the first',
};

/**
 * The type a status implies when the exception names none: these statuses mean one thing in
 * this API (a 502 is always WeCom failing us, a 429 always the rate limit).
 */
const TYPE_OF_STATUS: Partial<Record<number, ProblemTypeUri>> = {
  412: ProblemType.preconditionFailed,
  415: ProblemType.unsupportedMediaType,
  429: ProblemType.rateLimited,
  502: ProblemType.wecomUnavailable,
};

/** RFC 9110's names where Node still has the older ones. */
const STATUS_PHRASES: Record<number, string> = {
  413: 'Content Too Large',
  422: 'Unprocessable Content',
};

export function statusPhrase(status: number): string {
  return STATUS_PHRASES[status] ?? STATUS_CODES[status] ?? 'Error';
}

export function isProblemType(value: unknown): value is ProblemTypeUri {
  return typeof value === 'string' && Object.hasOwn(PROBLEM_TITLES, value);
}

/** `type` and `title` for a problem: the exception's own type if it names one of ours. */
export function problemKind(status: number, named?: unknown): { type: string; title: string } {
  const type = isProblemType(named) ? named : TYPE_OF_STATUS[status];
  return type
    ? { type, title: PROBLEM_TITLES[type] }
    : { type: 'about:blank', title: statusPhrase(status) };
}
