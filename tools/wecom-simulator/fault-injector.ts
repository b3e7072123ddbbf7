import { randomUUID } from 'node:crypto';

export interface FaultSpec {
  /** Exact API path, e.g. "/cgi-bin/message/send". */
  path: string;
  /** Answer HTTP 200 with this errcode. */
  errcode?: number;
  /** Answer this HTTP status with a short text body; wins over errcode. */
  httpStatus?: number;
  /** Wait this long first, then answer normally (or with errcode). */
  delayMs?: number;
  /** How many calls the fault applies to; unlimited when absent. */
  times?: number;
  /** Chance (0..1) that a call is affected; 1 when absent. */
  probability?: number;
  /** Only calls on this corp (its corpid at gettoken, its token elsewhere); every call when absent. */
  corpId?: string;
}

export interface Fault extends FaultSpec {
  id: string;
}

export class FaultValidationError extends Error {}

const MAX_DELAY_MS = 120_000;

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** Checks a fault from the control API; throws a one-line reason. */
export function validateFault(input: unknown): FaultSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new FaultValidationError('fault must be a JSON object');
  }
  const f = input as Record<string, unknown>;
  const known = new Set([
    'path',
    'errcode',
    'httpStatus',
    'delayMs',
    'times',
    'probability',
    'corpId',
  ]);
  const unknown = Object.keys(f).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new FaultValidationError(`unknown field(s): ${unknown.join(', ')}`);
  if (typeof f.path !== 'string' || !f.path.startsWith('/') || f.path.length > 256) {
    throw new FaultValidationError('path must be an API path such as "/cgi-bin/message/send"');
  }
  if (f.errcode !== undefined && (!isInteger(f.errcode, -1, 999_999) || f.errcode === 0)) {
    throw new FaultValidationError('errcode must be a non-zero integer');
  }
  if (f.httpStatus !== undefined && !isInteger(f.httpStatus, 200, 599)) {
    throw new FaultValidationError('httpStatus must be an integer of 200-599');
  }
  if (f.delayMs !== undefined && !isInteger(f.delayMs, 0, MAX_DELAY_MS)) {
    throw new FaultValidationError(`delayMs must be an integer of 0-${MAX_DELAY_MS}`);
  }
  if (f.times !== undefined && !isInteger(f.times, 1, Number.MAX_SAFE_INTEGER)) {
    throw new FaultValidationError('times must be a positive integer');
  }
  if (
    f.probability !== undefined &&
    (typeof f.probability !== 'number' || !(f.probability >= 0 && f.probability <= 1))
  ) {
    throw new FaultValidationError('probability must be a number of 0-1');
  }
  if (f.corpId !== undefined && (typeof f.corpId !== 'string' || f.corpId.length === 0)) {
    throw new FaultValidationError('corpId must be a non-empty string');
  }
  if (f.errcode === undefined && f.httpStatus === undefined && f.delayMs === undefined) {
    throw new FaultValidationError('give at least one of errcode, httpStatus, delayMs');
  }
  const spec: FaultSpec = { path: f.path };
  for (const key of ['errcode', 'httpStatus', 'delayMs', 'times', 'probability'] as const) {
    if (f[key] !== undefined) spec[key] = f[key] as number;
  }
  if (f.corpId !== undefined) spec.corpId = f.corpId as string;
  return spec;
}

/** Faults by path, applied in the order they were added. */
export class FaultInjector {
  private readonly byPath = new Map<string, { fault: Fault; remaining: number }[]>();

  constructor(private readonly random: () => number = Math.random) {}

  add(spec: FaultSpec): Fault {
    const fault: Fault = { ...spec, id: randomUUID() };
    const list = this.byPath.get(spec.path) ?? [];
    list.push({ fault, remaining: spec.times ?? Infinity });
    this.byPath.set(spec.path, list);
    return { ...fault };
  }

  list(): Fault[] {
    return [...this.byPath.values()].flat().map(({ fault }) => ({ ...fault }));
  }

  clear(): void {
    this.byPath.clear();
  }

  /**
   * The fault that hits this call, if any; uses up one of its `times`. `corpId` is the corp the
   * call acts on (undefined when it names none): a fault for another corp passes it by.
   */
  take(path: string, corpId?: string): Fault | undefined {
    const list = this.byPath.get(path);
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const entry = list[i];
      if (entry.fault.corpId !== undefined && entry.fault.corpId !== corpId) continue;
      if (this.random() >= (entry.fault.probability ?? 1)) continue;
      entry.remaining--;
      if (entry.remaining <= 0) list.splice(i, 1);
      if (list.length === 0) this.byPath.delete(path);
      return entry.fault;
    }
    return undefined;
  }
}
