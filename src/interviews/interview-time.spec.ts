import { localTime } from './interview-time.js';

/** What Intl says, the slow way: the reference the cached offsets must agree with. */
function reference(zone: string): (at: Date) => string {
  const f = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  return (at) => {
    const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
  };
}

describe(localTime.name, () => {
  it('gives the wall clock of the zone', () => {
    expect(localTime(new Date('2026-11-24T02:00:00Z'), 'Asia/Shanghai')).toBe('2026-11-24 10:00');
    expect(localTime(new Date('2026-11-24T02:00:00Z'), 'Asia/Kathmandu')).toBe('2026-11-24 07:45');
  });

  it.each([
    'America/New_York', // DST ends 2026-11-01 06:00Z
    'Europe/Berlin', // DST ends 2026-10-25 01:00Z
    'Australia/Lord_Howe', // half-hour shifts
    'Asia/Shanghai',
    'UTC',
  ])('agrees with Intl across a year of transitions in %s', (zone) => {
    const expected = reference(zone);
    const start = Date.parse('2026-01-01T00:00:00Z');
    const wrong: string[] = [];
    // Every 37 min 11 s for a year (drifting through every minute of the quarter hours), and
    // every minute of the days with a transition.
    const days = new Set<number>();
    for (let t = start; t < start + 366 * 86_400_000; t += 2_231_000) {
      const at = new Date(t);
      if (localTime(at, zone) !== expected(at)) wrong.push(at.toISOString());
      const dayAfter = new Date(t + 86_400_000);
      if (localTime(dayAfter, zone).slice(11) !== localTime(at, zone).slice(11)) {
        days.add(Math.floor(t / 86_400_000));
      }
    }
    for (const day of days) {
      for (let t = day * 86_400_000; t < (day + 2) * 86_400_000; t += 60_000) {
        const at = new Date(t);
        if (localTime(at, zone) !== expected(at)) wrong.push(at.toISOString());
      }
    }
    expect(wrong).toEqual([]);
  });
});
