// Time-zone arithmetic and formatting. Appointments are shown in their clinic's zone (what
// the patient on the phone means by "10 o'clock"), whatever zone the agent's browser is in.

const parts = (date: Date, timeZone: string): Record<string, string> => {
  const fields = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(date);
  return Object.fromEntries(fields.map((p) => [p.type, p.value]));
};

/** The zone's offset from UTC at `date`, in milliseconds (e.g. -8 h for Los Angeles in winter). */
export function zoneOffsetMs(date: Date, timeZone: string): number {
  const p = parts(date, timeZone);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return asUtc - Math.floor(date.getTime() / 1000) * 1000;
}

/** The calendar date (YYYY-MM-DD) in `timeZone` at `date`. */
export function dateInZone(date: Date, timeZone: string): string {
  const p = parts(date, timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

/** The instant at which the wall-clock `time` (HH:MM) on `day` (YYYY-MM-DD) happens in
 * `timeZone`: the offset is looked up twice, so a day on which the clocks change comes out
 * right. Not meant for a time inside a daylight-saving gap; the dashboard only asks for
 * midnight, which the clinics' (US) zones never skip. */
export function zonedTimeToInstant(day: string, time: string, timeZone: string): Date {
  const [y, m, d] = day.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  const first = wall - zoneOffsetMs(new Date(wall), timeZone);
  return new Date(wall - zoneOffsetMs(new Date(first), timeZone));
}

/** "Mon, Jan 7, 2030, 10:00 PST": an instant as the clinic's wall clock, with the zone. */
export function formatInZone(instant: string, timeZone: string): string {
  return new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    weekday: "short",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  }).format(new Date(instant));
}

/** "14:30": the hour and minute of an instant in `timeZone` (chart axes, timelines). */
export function clockInZone(instant: string, timeZone: string): string {
  const p = parts(new Date(instant), timeZone);
  return `${p.hour}:${p.minute}`;
}

/** "4:05" for 245 s; "1:02:03" past an hour. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
}

/** The browser's own zone, used when no single clinic is selected. */
export const browserZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;
