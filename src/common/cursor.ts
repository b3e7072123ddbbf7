import { isUUID } from 'class-validator';
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

import { parseApiTime } from './api-time.js';
import { ValidationProblemException } from './validation-problem.js';

/** Keyset pagination over (created_at, id), newest first; the cursor is opaque to callers. */
export interface Cursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.createdAt.toISOString()}|${c.id}`).toString('base64url');
}

export function decodeCursor(raw: string | undefined): Cursor | undefined {
  if (!raw) return undefined;
  const [at, id, ...rest] = Buffer.from(raw, 'base64url').toString().split('|');
  // Both halves go into SQL: a time PostgreSQL cannot hold or an id that is no uuid (36 dashes)
  // would fail there as a 500.
  const createdAt = parseApiTime(at);
  if (!createdAt || !id || !isUUID(id, 'all') || rest.length > 0) {
    throw ValidationProblemException.fromMessages(['cursor is not one this API returned']);
  }
  return { createdAt, id };
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** `rows` was fetched with limit + 1 to learn whether another page exists. */
export function toPage<R extends Cursor, T>(rows: R[], limit: number, map: (r: R) => T): Page<T> {
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(map), nextCursor: more && last ? encodeCursor(last) : null };
}

/**
 * One page, newest first, of what `qb` selects (filters already applied): its alias must have
 * `created_at` and `id` columns. Fetches limit + 1 rows to learn whether another page exists.
 */
export async function pageNewestFirst<E extends Cursor & ObjectLiteral, T>(
  qb: SelectQueryBuilder<E>,
  query: { cursor?: string; limit: number },
  map: (row: E) => T,
): Promise<Page<T>> {
  const a = qb.alias;
  const cursor = decodeCursor(query.cursor);
  if (cursor) {
    qb.andWhere(`(${a}.created_at, ${a}.id) < (:cursorAt, :cursorId)`, {
      cursorAt: cursor.createdAt,
      cursorId: cursor.id,
    });
  }
  const rows = await qb
    .orderBy(`${a}.created_at`, 'DESC')
    .addOrderBy(`${a}.id`, 'DESC')
    .take(query.limit + 1)
    .getMany();
  return toPage(rows, query.limit, map);
}
