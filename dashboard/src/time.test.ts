import { describe, expect, it } from "vitest";
import { clockInZone, dateInZone, formatDuration, formatInZone, zonedTimeToInstant } from "./time";

describe("clinic time zones", () => {
  it("shows an instant on the clinic's wall clock, with the zone", () => {
    const instant = "2030-01-07T18:00:00Z";
    expect(formatInZone(instant, "America/Los_Angeles")).toBe("Mon, Jan 7, 2030, 10:00 PST");
    expect(formatInZone(instant, "America/New_York")).toBe("Mon, Jan 7, 2030, 13:00 EST");
    expect(clockInZone(instant, "America/Denver")).toBe("11:00");
  });

  it("follows daylight saving time", () => {
    expect(formatInZone("2030-07-08T17:00:00Z", "America/Los_Angeles")).toBe("Mon, Jul 8, 2030, 10:00 PDT");
  });

  it("knows the clinic's date when the browser's differs", () => {
    const lateEvening = new Date("2030-01-08T04:30:00Z");
    expect(dateInZone(lateEvening, "America/Los_Angeles")).toBe("2030-01-07");
    expect(dateInZone(lateEvening, "UTC")).toBe("2030-01-08");
  });

  it("turns a clinic-local midnight into the instant, around the DST changes", () => {
    expect(zonedTimeToInstant("2030-01-07", "00:00", "America/Chicago").toISOString()).toBe("2030-01-07T06:00:00.000Z");
    expect(zonedTimeToInstant("2030-03-10", "00:00", "America/New_York").toISOString()).toBe("2030-03-10T05:00:00.000Z");
    expect(zonedTimeToInstant("2030-03-10", "12:00", "America/New_York").toISOString()).toBe("2030-03-10T16:00:00.000Z");
    expect(zonedTimeToInstant("2030-11-03", "09:00", "America/Los_Angeles").toISOString()).toBe("2030-11-03T17:00:00.000Z");
  });

  it("formats handle times", () => {
    expect(formatDuration(245)).toBe("4:05");
    expect(formatDuration(59.6)).toBe("1:00");
    expect(formatDuration(3723)).toBe("1:02:03");
  });
});
