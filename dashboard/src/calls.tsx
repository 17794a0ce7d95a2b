// The agent's phone call: start it when the phone rings, end it with an outcome. A booking
// made during the call is remembered so the call can end as BOOKED with that appointment
// (the API requires it). The call survives a page reload (sessionStorage).

import { useMutation } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { CALL_OUTCOMES, type CallOutcome, type CallStarted } from "./api";
import { useAuth } from "./auth";
import { useClinics, useRefreshAfterChange } from "./queries";
import { formatDuration } from "./time";
import { ClinicSelect, ErrorNote } from "./ui";

interface ActiveCall extends CallStarted {
  bookedAppointmentId: string | null;
}

interface Calls {
  active: ActiveCall | null;
  /** Notes a booking made while on the call. */
  booked: (appointmentId: string) => void;
}

const CallsContext = createContext<Calls>({ active: null, booked: () => {} });
export const useCalls = () => useContext(CallsContext);

const CALL_KEY = "clinic.call";

export function CallsProvider({ children }: { children: ReactNode }) {
  const [active, setActive] = useState<ActiveCall | null>(() => JSON.parse(sessionStorage.getItem(CALL_KEY) ?? "null"));
  useEffect(() => {
    if (active) sessionStorage.setItem(CALL_KEY, JSON.stringify(active));
    else sessionStorage.removeItem(CALL_KEY);
  }, [active]);
  const booked = (appointmentId: string) => setActive((call) => call && { ...call, bookedAppointmentId: appointmentId });
  return (
    <CallsContext.Provider value={{ active, booked }}>
      <CallBar active={active} setActive={setActive} />
      {children}
    </CallsContext.Provider>
  );
}

function useNow(periodMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(timer);
  }, [periodMs]);
  return now;
}

function CallBar({ active, setActive }: { active: ActiveCall | null; setActive: (call: ActiveCall | null) => void }) {
  const { api } = useAuth();
  const clinics = useClinics();
  const refresh = useRefreshAfterChange();
  const [clinicId, setClinicId] = useState("");
  const [outcome, setOutcome] = useState<CallOutcome | "">("");
  const now = useNow(1000);
  const start = useMutation({
    mutationFn: (clinic: string) => api.post<CallStarted>("/api/v1/calls", { clinicId: clinic }),
    onSuccess: (call) => {
      setActive({ ...call, bookedAppointmentId: null });
      setOutcome("");
      return refresh();
    },
  });
  const end = useMutation({
    mutationFn: ({ call, outcome }: { call: ActiveCall; outcome: CallOutcome }) =>
      api.post(`/api/v1/calls/${call.callId}/end`, {
        outcome,
        ...(outcome === "BOOKED" ? { appointmentId: call.bookedAppointmentId } : {}),
      }),
    onSuccess: () => {
      setActive(null);
      return refresh();
    },
  });
  const chosen = outcome || (active?.bookedAppointmentId ? "BOOKED" : "INFORMATION");
  const clinicName = (id: string) => clinics.data?.find((c) => c.id === id)?.name ?? "clinic";
  return (
    <div className="callbar" aria-label="Phone call">
      {active ? (
        <>
          <span className="live-dot" aria-hidden />
          <span>
            On a call for {clinicName(active.clinicId)} ·{" "}
            <span data-testid="call-timer">{formatDuration(Math.max(0, (now - Date.parse(active.startedAt)) / 1000))}</span>
          </span>
          <select aria-label="Call outcome" value={chosen} onChange={(e) => setOutcome(e.target.value as CallOutcome)}>
            {CALL_OUTCOMES.map((o) => (
              <option key={o} value={o} disabled={o === "BOOKED" && !active.bookedAppointmentId}>
                {o.charAt(0) + o.slice(1).toLowerCase()}
              </option>
            ))}
          </select>
          <button type="button" disabled={end.isPending} onClick={() => end.mutate({ call: active, outcome: chosen })}>
            End call
          </button>
        </>
      ) : (
        <>
          <ClinicSelect label="Call for clinic" clinics={clinics.data} value={clinicId} onChange={setClinicId} none="Call for clinic…" />
          <button type="button" disabled={!clinicId || start.isPending} onClick={() => start.mutate(clinicId)}>
            Start call
          </button>
        </>
      )}
      {start.isError && <ErrorNote error={start.error} what="Starting the call" />}
      {end.isError && <ErrorNote error={end.error} what="Ending the call" />}
    </div>
  );
}
