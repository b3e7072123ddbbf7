import { quietWindowEnd } from './interview-time.js';

const NIGHT = { start: '22:00', end: '08:00' };
const at = (iso: string) => new Date(iso);

describe(quietWindowEnd.name, () => {
  it.each([
    // Asia/Shanghai is UTC+8.
    ['2026-11-23T13:59:00Z', null], // 21:59 local: not yet
    ['2026-11-23T14:00:00Z', '2026-11-24T00:00:00.000Z'], // 22:00 → 08:00 next day
    ['2026-11-23T18:30:45Z', '2026-11-24T00:00:00.000Z'], // 02:30:45 → 08:00
    ['2026-11-23T23:59:00Z', '2026-11-24T00:00:00.000Z'], // 07:59
    ['2026-11-24T00:00:00Z', null], // 08:00: over
  ])('at %s (Shanghai) the night window ends at %s', (now, expected) => {
    expect(quietWindowEnd(at(now), NIGHT, 'Asia/Shanghai')?.toISOString() ?? null).toBe(expected);
  });

  it('reads the wall clock of the zone it is given', () => {
    // 14:30 UTC is 22:30 in Shanghai (quiet) and 09:30 in New York (not).
    expect(quietWindowEnd(at('2026-11-23T14:30:00Z'), NIGHT, 'Asia/Shanghai')).not.toBeNull();
    expect(quietWindowEnd(at('2026-11-23T14:30:00Z'), NIGHT, 'America/New_York')).toBeNull();
  });

  it('handles a window within one day, and none', () => {
    const lunch = { start: '12:00', end: '13:30' };
    expect(quietWindowEnd(at('2026-11-23T04:15:00Z'), lunch, 'Asia/Shanghai')?.toISOString()).toBe(
      '2026-11-23T05:30:00.000Z',
    );
    expect(quietWindowEnd(at('2026-11-23T04:15:00Z'), null, 'Asia/Shanghai')).toBeNull();
    expect(
      quietWindowEnd(at('2026-11-23T04:15:00Z'), { start: '09:00', end: '09:00' }, 'UTC'),
    ).toBeNull();
  });
});
