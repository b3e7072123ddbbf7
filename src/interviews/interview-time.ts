/** Whether `zone` names a time zone this runtime knows (IANA names such as Asia/Shanghai). */
export function isTimeZone(zone: string): boolean {
  // Intl would also take offsets like "+08:00"; an interview is held in a named zone.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(zone, f);
  }
  return f;
}

/**
 * A zone's UTC offset, by quarter hour: offsets change only at transitions, and every real
 * transition falls on a quarter hour of UTC. Intl's formatToParts is the slow part of a list
 * page (one call per interview); this asks it once per zone and quarter hour.
 */
const OFFSET_SLOT_MS = 15 * 60_000;
const offsets = new Map<string, number>();

function offsetMs(at: Date, zone: string): number {
  const slot = Math.floor(at.getTime() / OFFSET_SLOT_MS);
  const key = `${zone}|${slot}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    const probe = new Date(slot * OFFSET_SLOT_MS);
    const p = Object.fromEntries(
      formatter(zone)
        .formatToParts(probe)
        .map((x) => [x.type, x.value]),
    );
    const wall = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!);
    offset = wall - probe.getTime();
    if (offsets.size > 50_000) offsets.clear();
    offsets.set(key, offset);
  }
  return offset;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `2026-11-24 10:00`, the wall-clock time in `zone`. */
export function localTime(at: Date, zone: string): string {
  const wall = new Date(at.getTime() + offsetMs(at, zone));
  return (
    `${wall.getUTCFullYear()}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())} ` +
    `${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}`
  );
}

/** `2026-11-24 10:00 (Asia/Shanghai)`: what people read in a message. */
export function localTimeWithZone(at: Date, zone: string): string {
  return `${localTime(at, zone)} (${zone})`;
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * When `at` falls inside the daily quiet window (HH:MM to HH:MM, wall clock in `zone`; an end
 * before the start means the next morning), the instant the window ends; otherwise null. Over a
 * daylight-saving change the end can be off by the shift, which only moves a deferral by an hour.
 */
export function quietWindowEnd(
  at: Date,
  quiet: { start: string; end: string } | null,
  zone: string,
): Date | null {
  if (!quiet) return null;
  const start = toMinutes(quiet.start);
  const end = toMinutes(quiet.end);
  if (start === end) return null;
  const now = toMinutes(localTime(at, zone).slice(11));
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return null;
  const minutesLeft = (end - now + 1440) % 1440;
  const minuteStart = at.getTime() - (at.getTime() % 60_000);
  return new Date(minuteStart + minutesLeft * 60_000);
}
