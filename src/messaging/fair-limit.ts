import { AsyncResource } from 'node:async_hooks';

/**
 * At most `concurrency` tasks run at once; the tasks waiting for a slot queue per key, and each
 * freed slot goes to the next key in turn. The dispatcher keys its WeCom calls by organisation:
 * one organisation's thousands of queued calls then cost another's single call at most one
 * freed slot of waiting, not the whole queue ahead of it (as a single FIFO would).
 */
export class FairLimit {
  private running = 0;
  /** Waiting tasks by key; the Map's order is the turn (a served key goes to the back). */
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(readonly concurrency: number) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
  }

  /** Tasks waiting for a slot, all keys together. */
  get pending(): number {
    let n = 0;
    for (const queue of this.waiting.values()) n += queue.length;
    return n;
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Bound to the caller's async context: a queued task is started from whichever task
      // finished, and must still run in its own organisation's scope, not in that one's.
      const start = AsyncResource.bind(() => {
        this.running++;
        (async () => task())()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.startNext();
          });
      });
      if (this.running < this.concurrency) {
        start();
        return;
      }
      const queue = this.waiting.get(key);
      if (queue) queue.push(start);
      else this.waiting.set(key, [start]);
    });
  }

  private startNext(): void {
    const first = this.waiting.entries().next();
    if (first.done) return;
    const [key, queue] = first.value;
    const start = queue.shift()!;
    this.waiting.delete(key);
    if (queue.length > 0) this.waiting.set(key, queue);
    start();
  }
}
