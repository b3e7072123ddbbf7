import { type ArgumentMetadata, type PipeTransform } from '@nestjs/common';

import { childPath } from './field-path.js';
import { ValidationProblemException } from './validation-problem.js';

/** Deeper than any body this API takes (a template card is about 6 levels). */
export const MAX_INPUT_DEPTH = 32;

const NUL = String.fromCharCode(0);
// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `text` cannot be stored or sent, or undefined when it can. */
function textProblem(text: string): string | undefined {
  if (text.includes(NUL)) return 'contains U+0000 (NUL), which text cannot hold';
  if (LONE_SURROGATE.test(text)) return 'contains a lone UTF-16 surrogate, which is not Unicode';
  return undefined;
}

/**
 * Runs before validation on every body, query and path parameter. Refuses, with a validation
 * problem naming the field, what no field can hold: U+0000 (PostgreSQL text and jsonb refuse
 * it) and lone surrogates (they cannot be encoded as UTF-8), in values and in keys; and nesting
 * deeper than MAX_INPUT_DEPTH, before class-transformer and class-validator recurse into it
 * (5000 levels overflowed the stack there). The walk is iterative, so the check cannot overflow itself.
 */
export class InputShapePipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'custom') return value;
    const root = metadata.data ?? '';
    const what = metadata.type === 'body' ? 'request body' : `${metadata.type} parameter`;
    const stack: { value: unknown; path: string; depth: number }[] = [
      { value, path: root, depth: 0 },
    ];
    while (stack.length > 0) {
      const { value: v, path, depth } = stack.pop()!;
      if (typeof v === 'string') {
        const problem = textProblem(v);
        if (problem) throw refused(path, `${path || what} ${problem}`);
        continue;
      }
      if (typeof v !== 'object' || v === null) continue;
      if (depth >= MAX_INPUT_DEPTH) {
        throw refused(
          path,
          `${what} is nested more than ${MAX_INPUT_DEPTH} levels deep (at ${path || 'the top'})`,
        );
      }
      if (Array.isArray(v)) {
        v.forEach((item, i) =>
          stack.push({ value: item, path: childPath(path, i), depth: depth + 1 }),
        );
        continue;
      }
      for (const [key, item] of Object.entries(v)) {
        const problem = textProblem(key);
        if (problem) throw refused(path, `a key in ${path || what} ${problem}`);
        stack.push({ value: item, path: childPath(path, key), depth: depth + 1 });
      }
    }
    return value;
  }
}

/** A 400 in the shape the ValidationPipe's are: `field` is "" for the value as a whole. */
function refused(field: string, message: string): ValidationProblemException {
  return new ValidationProblemException([{ field, message }]);
}
