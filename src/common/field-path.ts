/** `parent.key`, `parent[2]` or `parent["odd key"]`: a field as a client would write its path. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  const shown = JSON.stringify(key.slice(0, 64)).replace(/[\ud800-\udfff]/g, '\ufffd');
  return `${parent}[${shown}]`;
}

/** The path a message such as `to[0].wecomUserId must be ...` starts with, or `""`. */
export function leadingPath(message: string): string {
  return /^([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*)\s/.exec(message)?.[1] ?? '';
}
