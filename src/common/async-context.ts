import { AsyncLocalStorage } from 'node:async_hooks';

type Slots = ReadonlyMap<ContextSlot<unknown>, unknown>;

/**
 * The one AsyncLocalStorage of the process. On Node 20 every instance adds work to each promise
 * and async resource created anywhere, so a second one for the open transaction cost the
 * framework ceiling (GET /api/me) about 9% in the bench; values that follow an async call
 * chain (the request id, the open transaction) are slots of this one instead.
 */
const storage = new AsyncLocalStorage<Slots>();

/** One value that follows an async call chain, e.g. the request id of the request being served. */
export class ContextSlot<T> {
  constructor(readonly name: string) {}

  /** The value set by the nearest enclosing `run`, or undefined. */
  get(): T | undefined {
    return storage.getStore()?.get(this) as T | undefined;
  }

  /** Runs `work` with this slot set to `value`; the other slots keep their values. */
  run<R>(value: T, work: () => R): R {
    const slots = new Map(storage.getStore());
    slots.set(this, value);
    return storage.run(slots, work);
  }
}
