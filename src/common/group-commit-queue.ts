interface Queued<T> {
  item: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Saves items in batches, one save at a time (a group commit): items queued while a save is
 * under way are saved together by the next one, up to `maxBatch` per save. Under load this turns
 * hundreds of small writes into a few large ones; when idle an item is saved at once.
 */
export class GroupCommitQueue<T> {
  private readonly queue: Queued<T>[] = [];
  private saving?: Promise<void>;

  constructor(
    private readonly saveBatch: (items: T[]) => Promise<void>,
    private readonly maxBatch: number,
  ) {}

  /** Resolves once the item is saved; rejects with the error of the save that failed it. */
  save(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.startSaving();
    });
  }

  private startSaving(): void {
    if (this.saving) return;
    this.saving = (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.saveBatch(batch.map((queued) => queued.item));
          for (const queued of batch) queued.resolve();
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
