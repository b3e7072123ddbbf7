import { BadRequestException } from '@nestjs/common';

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
  const [at, id] = Buffer.from(raw, 'base64url').toString().split('|');
  const createdAt = new Date(at ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw new BadRequestException('cursor is not one this API returned');
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
