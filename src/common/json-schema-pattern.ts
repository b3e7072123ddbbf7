/**
 * A RegExp as a JSON Schema `pattern` (ECMA-262 source, no flags). The `i` flag is written out
 * as letter pairs outside character classes (`@all` becomes `@[Aa][Ll][Ll]`); classes are left
 * alone, so a class that relies on `i` must list both cases itself. Other flags have no meaning
 * in a pattern and are refused, as is `i` over a class that names letters of one case only.
 */
export function jsonSchemaPattern(re: RegExp): string {
  const flags = re.flags.replace(/[gy]/g, '');
  if (flags === '') return re.source;
  if (flags !== 'i')
    throw new Error(`/${re.source}/${re.flags}: only the i flag can be written out`);
  let out = '';
  let inClass = false;
  for (let i = 0; i < re.source.length; i++) {
    const c = re.source[i];
    if (c === '\\') {
      out += c + re.source[++i];
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      const end = re.source.indexOf(']', i + 1);
      const body = re.source.slice(i + 1, end);
      if (/[a-z]/.test(body.replace(/\\./g, '')) !== /[A-Z]/.test(body.replace(/\\./g, ''))) {
        throw new Error(`/${re.source}/i: the class [${body}] would need both cases`);
      }
      inClass = true;
      out += c;
      continue;
    }
    out += /[a-z]/i.test(c) ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c;
  }
  return out;
}
