// The API's JSON shapes (camelCase, as functions/api serves them) and the one fetch wrapper:
// every request carries the bearer token; every failure becomes an ApiError with the RFC 7807
// problem's title and detail, so screens can show what went wrong in words.

export type AppointmentType = "ROUTINE" | "FOLLOW_UP" | "EMERGENCY" | "CONTACT_LENS";
export const APPOINTMENT_TYPES: AppointmentType[] = ["ROUTINE", "FOLLOW_UP", "EMERGENCY", "CONTACT_LENS"];

export type AppointmentStatus =
  | "PENDING_INSURANCE"
  | "AWAITING_CONFIRMATION"
  | "CONFIRMED"
  | "COMPLETED"
  | "CANCELLED";

export interface Provider {
  id: string;
  name: string;
}

export interface Clinic {
  id: string;
  name: string;
  timeZone: string;
  openingHours: { weekday: string; opens: string; closes: string }[];
  providers: Provider[];
}

export interface Availability {
  clinicId: string;
  date: string;
  timeZone: string;
  type: AppointmentType;
  durationMinutes: number;
  providers: { providerId: string; name: string; slots: { start: string; localTime: string }[] }[];
}

export interface Appointment {
  appointmentId: string;
  sagaId: string | null;
  clinicId: string | null;
  clinicName: string | null;
  clinicTimeZone: string | null;
  providerId: string | null;
  providerName: string | null;
  patientId: string | null;
  patientName: string | null;
  scheduledFor: string | null;
  scheduledForLocal: string | null;
  durationMinutes: number | null;
  type: AppointmentType | null;
  status: AppointmentStatus;
  cancelReason: string | null;
  version: number;
  updatedAt: string;
}

export interface TimelineEntry {
  input: string;
  outcome: "APPLIED" | "IGNORED";
  step: string;
  detail: string | null;
  at: string;
}

export interface AppointmentDetail extends Appointment {
  saga: { step: string; deadline: string | null; timeline: TimelineEntry[] } | null;
}

/** One access to a patient's data, from the access audit (ids only). */
export interface AccessEntry {
  at: string;
  agentId: string;
  action: string;
  route: string;
  outcome: "SERVED" | "REFUSED";
  clinicIds: string[];
  appointmentIds: string[];
}

export interface AppointmentPage {
  items: Appointment[];
  page: number;
  size: number;
  totalItems: number;
  totalPages: number;
}

export interface BookingAccepted {
  appointmentId: string;
  sagaId: string;
  status: "PROCESSING";
}

export interface Patient {
  patientId: string;
  name: string;
}

export interface FunnelWindow {
  windowStart: string;
  created: number;
  confirmed: number;
  cancelled: number;
  completed: number;
}

export interface Metrics {
  clinicId: string | null;
  timeZone: string | null;
  from: string;
  to: string;
  created: number;
  confirmed: number;
  completed: number;
  cancelled: number;
  hourly: { hour: string; localHour: string | null; count: number }[];
  funnel30m: FunnelWindow[];
  calls: {
    started: number;
    ended: number;
    inProgress: number;
    averageHandleSeconds: number | null;
    bookedShare: number | null;
    hourly: { hour: string; count: number }[];
  };
}

export type CallOutcome = "BOOKED" | "RESCHEDULED" | "CANCELLED" | "INFORMATION" | "ABANDONED";
export const CALL_OUTCOMES: CallOutcome[] = ["BOOKED", "RESCHEDULED", "CANCELLED", "INFORMATION", "ABANDONED"];

export interface CallStarted {
  callId: string;
  clinicId: string;
  agentId: string;
  startedAt: string;
}

export interface Agent {
  agentId: string;
  name: string;
  role: "AGENT" | "SUPERVISOR";
  clinicIds: string[];
}

export interface TokenResponse {
  accessToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  agent: Agent;
}

/** A failed request: `status` 0 means the API could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: { field: string; message: string }[] = [],
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }
}

export interface ApiClient {
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  /** `headers`: this request's own, e.g. a booking's `Idempotency-Key`. */
  post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
}

/** A client for `baseUrl` (empty: same origin) that sends `token()` as the bearer token and
 * calls `onUnauthorized` on a 401, so an expired session goes back to sign-in. */
/** `extraHeaders` go on every request (the local sign-in's `X-Clinic-Local`, see local/src/guard.rs). */
export function apiClient(
  baseUrl: string,
  token: () => string | null,
  onUnauthorized: () => void,
  extraHeaders: Record<string, string> = {},
): ApiClient {
  async function request<T>(method: string, path: string, body?: unknown, own: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { ...extraHeaders, ...own, accept: "application/json" };
    const bearer = token();
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "Network error", "no answer from the API");
    }
    if (response.status === 401) onUnauthorized();
    if (!response.ok) throw await problem(response);
    return (await response.json()) as T;
  }
  return {
    get: (path, query) => request("GET", path + queryString(query)),
    post: (path, body, headers) => request("POST", path, body, headers),
  };
}

function queryString(query?: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function problem(response: Response): Promise<ApiError> {
  try {
    const body = await response.json();
    return new ApiError(response.status, body.title ?? response.statusText, body.detail ?? "", body.errors ?? []);
  } catch {
    return new ApiError(response.status, `HTTP ${response.status}`, response.statusText);
  }
}
