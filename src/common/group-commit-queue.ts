interface Queued<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Saves items in batches, one save at a time (a group commit): items queued while a save is
 * under way are saved together by the next one, up to `maxBatch` per save. Under load this turns
 * hundreds of small writes into a few large ones; when idle an item is saved at once, together
 * with whatever else is queued before the current job's microtasks run out (the two rate limits
 * of one request, asked for side by side, are one save).
 *
 * A save may answer each item (`R`): its answers come back in the batch's order, one per item.
 */
export class GroupCommitQueue<T, R = void> {
  private readonly queue: Queued<T, R>[] = [];
  private saving?: Promise<void>;

  constructor(
    private readonly saveBatch: (items: T[]) => Promise<R[] | void>,
    private readonly maxBatch: number,
  ) {}

  /** Resolves with the item's answer once saved; rejects with the error of the save that failed it. */
  save(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.startSaving();
    });
  }

  private startSaving(): void {
    if (this.saving) return;
    this.saving = (async () => {
      // Lets the caller's siblings (queued in the same synchronous run) join the first batch.
      await Promise.resolve();
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const answers = await this.saveBatch(batch.map((queued) => queued.item));
          batch.forEach((queued, i) => queued.resolve((answers ? answers[i] : undefined) as R));
        } catch (error) {
          for (const queued of batch) queued.reject(error);
        }
      }
    })().finally(() => {
      this.saving = undefined;
      if (this.queue.length > 0) this.startSaving();
    });
  }
}
