import { describe, expect, it } from "vitest";
import { FUNNEL_WINDOWS, formatShare, funnelPoints, hourlyPoints, todayRange } from "./metrics";

describe("today's metrics range", () => {
  it("runs from the zone's midnight to the end of the current hour", () => {
    const now = new Date("2030-01-08T03:20:00Z"); // 19:20 on Jan 7 in Los Angeles
    expect(todayRange(now, "America/Los_Angeles")).toEqual({
      from: "2030-01-07T08:00:00.000Z",
      to: "2030-01-08T04:00:00.000Z",
    });
    expect(todayRange(now, "UTC").from).toBe("2030-01-08T00:00:00.000Z");
  });
});

describe("chart points", () => {
  it("labels hours with the clinic-local hour when the API gives it, else in the zone", () => {
    const hourly = [
      { hour: "2030-01-07T18:00:00Z", localHour: "2030-01-07T10:00", count: 3 },
      { hour: "2030-01-07T19:00:00Z", localHour: null, count: 0 },
    ];
    expect(hourlyPoints(hourly, "America/New_York")).toEqual([
      { label: "10:00", count: 3 },
      { label: "14:00", count: 0 },
    ]);
  });

  it("keeps the last windows that have begun, oldest first", () => {
    const start = Date.parse("2030-01-07T00:00:00Z");
    const windows = Array.from({ length: 48 }, (_, i) => ({
      windowStart: new Date(start + i * 1_800_000).toISOString(),
      created: i,
      confirmed: 0,
      cancelled: 0,
      completed: 0,
    }));
    const points = funnelPoints(windows, "UTC", new Date("2030-01-07T10:10:00Z"));
    expect(points).toHaveLength(FUNNEL_WINDOWS);
    expect(points.at(-1)).toMatchObject({ label: "10:00", created: 20 });
    expect(points[0]).toMatchObject({ label: "04:30", created: 9 });
  });

  it("shows shares as whole percentages", () => {
    expect(formatShare(0.426)).toBe("43%");
    expect(formatShare(null)).toBe("—");
  });
});
