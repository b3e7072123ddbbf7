import { ContextSlot } from './async-context.js';

describe(ContextSlot.name, () => {
  it('carries a value through awaits, and only inside run', async () => {
    const sut = new ContextSlot<string>('request');
    expect(sut.get()).toBeUndefined();
    const seen = await sut.run('r-1', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return sut.get();
    });
    expect(seen).toBe('r-1');
    expect(sut.get()).toBeUndefined();
  });

  it('keeps slots apart: setting one leaves the others as they were', async () => {
    const request = new ContextSlot<string>('request');
    const transaction = new ContextSlot<number>('transaction');
    await request.run('r-1', () =>
      transaction.run(7, async () => {
        await Promise.resolve();
        expect([request.get(), transaction.get()]).toEqual(['r-1', 7]);
        await request.run('r-2', async () => {
          expect([request.get(), transaction.get()]).toEqual(['r-2', 7]);
        });
        expect(request.get()).toBe('r-1');
      }),
    );
  });

  it('two slots of the same name are still two slots', () => {
    const a = new ContextSlot<string>('transaction');
    const b = new ContextSlot<string>('transaction');
    a.run('only a', () => expect(b.get()).toBeUndefined());
  });

  it('concurrent chains do not see each other', async () => {
    const sut = new ContextSlot<number>('request');
    const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
    const seen = await Promise.all(
      [1, 2, 3].map((n) =>
        sut.run(n, async () => {
          await tick();
          return sut.get();
        }),
      ),
    );
    expect(seen).toEqual([1, 2, 3]);
  });
});
