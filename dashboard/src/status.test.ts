import { describe, expect, it } from "vitest";
import { STATUSES, allowedActions, chipFor, KPI_COLORS, typeLabel } from "./status";

describe("status chips", () => {
  it("gives the four outcomes the seed's KPI colours", () => {
    expect(chipFor("CONFIRMED")).toEqual({ label: "Confirmed", color: KPI_COLORS.confirmed, inFlight: false });
    expect(chipFor("COMPLETED").color).toBe("#8b5cf6");
    expect(chipFor("CANCELLED").color).toBe("#ef4444");
    expect(chipFor("PROCESSING").color).toBe("#3b82f6");
  });

  it("marks the statuses the saga still moves as in flight", () => {
    const inFlight = ["PROCESSING", ...STATUSES].filter((s) => chipFor(s).inFlight);
    expect(inFlight).toEqual(["PROCESSING", "PENDING_INSURANCE", "AWAITING_CONFIRMATION"]);
  });

  it("shows an unknown status as it comes, in grey, not in flight", () => {
    expect(chipFor("RESCHEDULED")).toEqual({ label: "RESCHEDULED", color: "#6b7280", inFlight: false });
  });

  it("offers cancel before the end and complete only once confirmed", () => {
    expect(allowedActions("PENDING_INSURANCE")).toEqual({ cancel: true, complete: false });
    expect(allowedActions("CONFIRMED")).toEqual({ cancel: true, complete: true });
    expect(allowedActions("COMPLETED")).toEqual({ cancel: false, complete: false });
    expect(allowedActions("CANCELLED")).toEqual({ cancel: false, complete: false });
    expect(allowedActions("PROCESSING")).toEqual({ cancel: false, complete: false });
  });

  it("writes exam types as words", () => {
    expect(typeLabel("CONTACT_LENS")).toBe("Contact lens");
    expect(typeLabel(null)).toBe("—");
  });
});
