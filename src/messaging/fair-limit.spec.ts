import { organizationScope } from '../common/organization-scope.js';
import { FairLimit } from './fair-limit.js';

/** A task that starts when the limiter lets it, and ends when the spec says. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe(FairLimit.name, () => {
  it('never runs more than its concurrency at once', async () => {
    const sut = new FairLimit(3);
    let running = 0;
    let most = 0;
    const task = async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 1));
      running--;
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => sut.run(i % 2 ? 'a' : 'b', task)));
    expect(most).toBe(3);
    expect(sut.pending).toBe(0);
  });

  it("gives a key's single task the next free slot, ahead of another key's backlog", async () => {
    const sut = new FairLimit(2);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const enqueue = (key: string, name: string) => {
      const g = gate();
      gates.set(name, g);
      return sut.run(key, async () => {
        started.push(name);
        await g.opened;
      });
    };
    const all = [
      ...Array.from({ length: 10 }, (_, i) => enqueue('backlog', `a${i}`)),
      enqueue('single', 'b0'),
    ];
    expect(started).toEqual(['a0', 'a1']);
    expect(sut.pending).toBe(9);

    gates.get('a0')!.open();
    await new Promise((resolve) => setImmediate(resolve));
    // The slot a0 freed goes to the key whose turn it is: the one that has waited.
    expect(started).toEqual(['a0', 'a1', 'a2']);
    gates.get('a1')!.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a0', 'a1', 'a2', 'b0']);

    for (const g of gates.values()) g.open();
    for (let i = 0; i < 20; i++) {
      for (const g of gates.values()) g.open();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(all);
    expect(started).toHaveLength(11);
  });

  it('alternates between keys that both have tasks waiting', async () => {
    const sut = new FairLimit(1);
    const started: string[] = [];
    const task = (name: string) => () => {
      started.push(name);
      return Promise.resolve();
    };
    const first = gate();
    const blocker = sut.run('x', () => first.opened);
    const queued = [
      ...['a1', 'a2', 'a3'].map((n) => sut.run('a', task(n))),
      ...['b1', 'b2'].map((n) => sut.run('b', task(n))),
    ];
    first.open();
    await Promise.all([blocker, ...queued]);
    expect(started).toEqual(['a1', 'b1', 'a2', 'b2', 'a3']);
  });

  it("starts a queued task in its caller's async context, not in the one that freed the slot", async () => {
    const sut = new FairLimit(1);
    const first = gate();
    const seen: (string | undefined)[] = [];
    const inScope = (slug: string, work: () => Promise<void>) =>
      organizationScope.run({ id: slug, slug }, work);
    const a = inScope('org-a', () =>
      sut.run('org-a', async () => {
        seen.push(organizationScope.get()?.slug);
        await first.opened;
      }),
    );
    const b = inScope('org-b', () =>
      sut.run('org-b', () => {
        seen.push(organizationScope.get()?.slug);
        return Promise.resolve();
      }),
    );
    first.open();
    await Promise.all([a, b]);
    expect(seen).toEqual(['org-a', 'org-b']);
  });

  it("passes a task's result and its failure to its own caller only", async () => {
    const sut = new FairLimit(1);
    const failing = sut.run('a', () => Promise.reject(new Error('boom')));
    const throwing = sut.run('a', () => {
      throw new Error('sync boom');
    });
    const fine = sut.run('b', () => Promise.resolve(42));
    await expect(failing).rejects.toThrow('boom');
    await expect(throwing).rejects.toThrow('sync boom');
    await expect(fine).resolves.toBe(42);
  });

  it('refuses a concurrency that is not a positive integer', () => {
    expect(() => new FairLimit(0)).toThrow(RangeError);
    expect(() => new FairLimit(1.5)).toThrow(RangeError);
  });
});
