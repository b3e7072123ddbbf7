import {
  MIN_FETCH_INTERVAL_MS,
  planRefresh,
  type StoredCredential,
} from './shared-credential-cache.js';

const S = 1000;
const T0 = Date.parse('2026-11-29T00:00:00Z');

/** A token fetched at T0 for 7200 s, answered 40 ms later. */
const stored = (patch: Partial<StoredCredential> = {}): StoredCredential => ({
  value: 'token',
  fingerprint: 'fp',
  fetchedAt: T0,
  expiresAt: T0 + 7200 * S,
  renewAt: T0 + 7200 * S + 40,
  unansweredAt: null,
  ...patch,
});

describe(planRefresh.name, () => {
  const margin = 600 * S;

  it('fetches at once when nothing is stored', () => {
    expect(planRefresh(null, T0)).toEqual({ kind: 'fetch', notBefore: T0 });
  });

  it('hands out a token until its earliest end, however close', () => {
    expect(planRefresh(stored(), T0 + 7200 * S - 1)).toEqual({ kind: 'use' });
  });

  it('tries once early inside the margin, never in the last 5 s', () => {
    const row = stored();
    expect(planRefresh(row, T0 + 6000 * S, margin)).toEqual({ kind: 'use' });
    expect(planRefresh(row, T0 + 6700 * S, margin)).toEqual({
      kind: 'fetch',
      notBefore: T0 + 6700 * S,
    });
    // The same token came back from that try: no second one.
    const tried = stored({ fetchedAt: T0 + 6700 * S });
    expect(planRefresh(tried, T0 + 6800 * S, margin)).toEqual({ kind: 'use' });
    // A try must not hold up the renewal.
    expect(planRefresh(row, T0 + 7200 * S - MIN_FETCH_INTERVAL_MS, margin)).toEqual({
      kind: 'use',
    });
  });

  it('renews an ended token when WeCom must have a new one', () => {
    const row = stored();
    expect(planRefresh(row, T0 + 7200 * S)).toEqual({
      kind: 'fetch',
      notBefore: T0 + 7200 * S + 40,
    });
  });

  it('renews at once when the two ends are far apart (a late or lost answer)', () => {
    const row = stored({ renewAt: T0 + 7200 * S + 9 * S });
    const plan = planRefresh(row, T0 + 7200 * S);
    expect(plan.kind).toBe('fetch');
    expect(plan.kind === 'fetch' && plan.notBefore).toBeLessThanOrEqual(T0 + 7200 * S);
  });

  it('refetches an invalidated token once 5 s have passed since the last call', () => {
    const row = stored({ fetchedAt: T0 + 100 * S, expiresAt: 0, renewAt: 0 });
    expect(planRefresh(row, T0 + 102 * S)).toEqual({
      kind: 'fetch',
      notBefore: T0 + 100 * S + MIN_FETCH_INTERVAL_MS,
    });
  });

  it('keeps 5 s after a failed call even when nothing usable is stored', () => {
    const row = stored({ value: null, expiresAt: 0, renewAt: 0, fetchedAt: T0 });
    expect(planRefresh(row, T0 + 1 * S)).toEqual({
      kind: 'fetch',
      notBefore: T0 + MIN_FETCH_INTERVAL_MS,
    });
  });
});
