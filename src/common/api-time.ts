import { Transform } from 'class-transformer';
import { IsDate, isISO8601 } from 'class-validator';

/**
 * The times this API takes: years 1970 to 9999. Inside PostgreSQL's timestamptz range (which
 * ends in 294276 AD; a JavaScript Date reaches 275760) and in the shape of a real time: an
 * interview or a message of year 1 or 200000 is a typo or an attack.
 */
export const EARLIEST_TIME_MS = Date.UTC(1970, 0, 1);
export const LATEST_TIME_MS = Date.UTC(10000, 0, 1) - 1;

/** The instant an ISO 8601 string names, or undefined when it is not one or out of range. */
export function parseApiTime(value: unknown): Date | undefined {
  if (typeof value !== 'string' || !isISO8601(value, { strict: true, strictSeparator: true })) {
    return undefined;
  }
  const at = new Date(value);
  const ms = at.getTime();
  return ms >= EARLIEST_TIME_MS && ms <= LATEST_TIME_MS ? at : undefined;
}

/**
 * A query parameter holding one time: converted to a Date when it is one; anything else
 * (`abc`, `2020-13-45`, the parameter given twice, year -271821) stays as it came and is a 400
 * naming `field`.
 */
export function QueryTime(field: string): PropertyDecorator {
  const decorators = [
    Transform(({ value }: { value: unknown }) => parseApiTime(value) ?? value),
    IsDate({
      message: `${field} must be one ISO 8601 time between the years 1970 and 9999, e.g. 2026-11-24T10:00:00+08:00`,
    }),
  ];
  return (target, key) => decorators.forEach((d) => d(target, key));
}
