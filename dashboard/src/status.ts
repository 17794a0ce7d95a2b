// How an appointment's status looks to an agent: a label in words, a chip colour and whether
// the saga is still deciding. PROCESSING is the dashboard's own state between the booking's
// 202 and the read model's first row; unknown statuses (a newer API) show as they come.

import type { AppointmentStatus } from "./api";

export type ChipStatus = AppointmentStatus | "PROCESSING";

export interface Chip {
  label: string;
  /** Background colour; the seed's KPI colours for the four outcomes. */
  color: string;
  /** True while the saga may still change the status on its own. */
  inFlight: boolean;
}

export const KPI_COLORS = {
  scheduled: "#3b82f6",
  confirmed: "#10b981",
  completed: "#8b5cf6",
  cancelled: "#ef4444",
} as const;

const PENDING = "#f59e0b";

const CHIPS: Record<ChipStatus, Chip> = {
  PROCESSING: { label: "Processing", color: KPI_COLORS.scheduled, inFlight: true },
  PENDING_INSURANCE: { label: "Verifying insurance", color: PENDING, inFlight: true },
  AWAITING_CONFIRMATION: { label: "Awaiting confirmation", color: PENDING, inFlight: true },
  CONFIRMED: { label: "Confirmed", color: KPI_COLORS.confirmed, inFlight: false },
  COMPLETED: { label: "Completed", color: KPI_COLORS.completed, inFlight: false },
  CANCELLED: { label: "Cancelled", color: KPI_COLORS.cancelled, inFlight: false },
};

export function chipFor(status: string): Chip {
  return CHIPS[status as ChipStatus] ?? { label: status, color: "#6b7280", inFlight: false };
}

/** What an agent may do with an appointment in this status (the API's state machine). */
export function allowedActions(status: string): { cancel: boolean; complete: boolean } {
  return {
    cancel: status === "PENDING_INSURANCE" || status === "AWAITING_CONFIRMATION" || status === "CONFIRMED",
    complete: status === "CONFIRMED",
  };
}

export const STATUSES: AppointmentStatus[] = [
  "PENDING_INSURANCE",
  "AWAITING_CONFIRMATION",
  "CONFIRMED",
  "COMPLETED",
  "CANCELLED",
];

/** "Follow up" for FOLLOW_UP: an enum value as words. */
export const typeLabel = (type: string | null): string =>
  type ? type.charAt(0) + type.slice(1).toLowerCase().replace("_", " ") : "—";
