// Turns the metrics endpoint's answer into what the KPI cards and charts draw. The overview
// shows "today": from midnight in the shown zone (the clinic's, or the browser's for all
// clinics) up to the end of the current hour, so the hour in progress is counted.

import type { FunnelWindow, Metrics } from "./api";
import { clockInZone, dateInZone, zonedTimeToInstant } from "./time";

const HOUR_MS = 3_600_000;

/** The metrics query range for "today" in `timeZone` at `now`. */
export function todayRange(now: Date, timeZone: string): { from: string; to: string } {
  const midnight = zonedTimeToInstant(dateInZone(now, timeZone), "00:00", timeZone);
  const endOfHour = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS + HOUR_MS);
  return { from: midnight.toISOString(), to: endOfHour.toISOString() };
}

export interface HourPoint {
  label: string;
  count: number;
}

/** One point per hour of the range, labelled with the hour's wall clock in `timeZone`
 * (the API's clinic-local hour when it gives one). */
export function hourlyPoints(hourly: { hour: string; localHour?: string | null; count: number }[], timeZone: string): HourPoint[] {
  return hourly.map((h) => ({
    label: h.localHour ? h.localHour.slice(11, 16) : clockInZone(h.hour, timeZone),
    count: h.count,
  }));
}

/** How many 30-minute windows the funnel chart shows: the last six hours. */
export const FUNNEL_WINDOWS = 12;

export type FunnelPoint = Omit<FunnelWindow, "windowStart"> & { label: string };

/** The most recent `FUNNEL_WINDOWS` windows that have begun by `now`, oldest first. */
export function funnelPoints(funnel: Metrics["funnel30m"], timeZone: string, now: Date): FunnelPoint[] {
  return funnel
    .filter((w) => new Date(w.windowStart) <= now)
    .slice(-FUNNEL_WINDOWS)
    .map(({ windowStart, created, confirmed, cancelled, completed }) => ({
      label: clockInZone(windowStart, timeZone),
      created,
      confirmed,
      cancelled,
      completed,
    }));
}

/** "42%" for 0.42; an em dash when there is nothing to divide. */
export function formatShare(share: number | null): string {
  return share === null ? "—" : `${Math.round(share * 100)}%`;
}
