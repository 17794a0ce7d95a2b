// One appointment: what the read model says, the booking saga's timeline, the agent's Cancel
// (with a reason) and Complete, offered only where the status machine allows them, and for a
// supervisor the patient's access log (who read or changed the patient's data).

import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { AccessEntry, AppointmentDetail as Detail } from "./api";
import { useAuth } from "./auth";
import { REFRESH_MS, useRefreshAfterChange } from "./queries";
import { Link } from "./router";
import { allowedActions, chipFor, typeLabel } from "./status";
import { formatInZone } from "./time";
import { ErrorNote, Loading, Panel, StatusChip } from "./ui";

export function AppointmentDetail({ id }: { id: string }) {
  const { api, session } = useAuth();
  // The status the write side answered to the agent's last change; the read model follows.
  const [expected, setExpected] = useState<string | null>(null);
  const appointment = useQuery({
    queryKey: [session.agentId, "appointment", id],
    queryFn: () => api.get<Detail>(`/api/v1/appointments/${id}`),
    // While the saga is deciding, or the read model has not caught up, follow it closely.
    refetchInterval: (query) => {
      const status = query.state.data?.status;
      return status && (chipFor(status).inFlight || (expected && status !== expected)) ? 1000 : REFRESH_MS;
    },
  });
  return (
    <>
      <p>
        <Link to="/">← Overview</Link>
      </p>
      {appointment.isPending && <Loading what="the appointment" />}
      {appointment.isError && <ErrorNote error={appointment.error} what="Loading the appointment" />}
      {appointment.data && <DetailView appointment={appointment.data} onChanged={setExpected} />}
    </>
  );
}

function DetailView({ appointment: a, onChanged }: { appointment: Detail; onChanged: (status: string) => void }) {
  const { session } = useAuth();
  const zone = a.clinicTimeZone ?? "UTC";
  const allowed = allowedActions(a.status);
  return (
    <div className="grid-2">
      <Panel title="Appointment" className="detail">
        <dl className="facts">
          <dt>Status</dt>
          <dd>
            <StatusChip status={a.status} />
          </dd>
          {a.cancelReason && (
            <>
              <dt>Cancel reason</dt>
              <dd className="reason" data-testid="cancel-reason">
                {a.cancelReason}
              </dd>
            </>
          )}
          <dt>Patient</dt>
          <dd>{a.patientName ?? "—"}</dd>
          <dt>Clinic</dt>
          <dd>{a.clinicName ?? "—"}</dd>
          <dt>Optometrist</dt>
          <dd>{a.providerName ?? "—"}</dd>
          <dt>When (clinic time)</dt>
          <dd>{a.scheduledFor ? formatInZone(a.scheduledFor, zone) : "—"}</dd>
          <dt>Exam</dt>
          <dd>
            {typeLabel(a.type)}
            {a.durationMinutes ? `, ${a.durationMinutes} min` : ""}
          </dd>
        </dl>
        {(allowed.cancel || allowed.complete) && <Actions appointment={a} cancel={allowed.cancel} complete={allowed.complete} onChanged={onChanged} />}
      </Panel>
      <Panel title="Booking saga" className="saga">
        {a.saga ? (
          <>
            <p>
              Step <strong data-testid="saga-step">{a.saga.step}</strong>
              {a.saga.deadline && a.saga.step !== "COMPLETED" && a.saga.step !== "CANCELLED" && (
                <span className="muted"> · deadline {formatInZone(a.saga.deadline, zone)}</span>
              )}
            </p>
            <ol className="timeline">
              {a.saga.timeline.map((t, i) => (
                <li key={i} className={t.outcome === "IGNORED" ? "ignored" : ""}>
                  <time dateTime={t.at}>{formatInZone(t.at, zone)}</time>
                  <strong>{t.input}</strong> → {t.step}
                  {t.outcome === "IGNORED" && <span className="muted"> (ignored)</span>}
                  {t.detail && <div className="muted">{t.detail}</div>}
                </li>
              ))}
            </ol>
          </>
        ) : (
          <p className="state state-empty">No saga yet: it starts a moment after booking.</p>
        )}
      </Panel>
      {session.role === "SUPERVISOR" && a.patientId && <AccessLog patientId={a.patientId} zone={zone} />}
    </div>
  );
}

/** The patient's access log (supervisors only; the API refuses anyone else), newest first. */
function AccessLog({ patientId, zone }: { patientId: string; zone: string }) {
  const { api, session } = useAuth();
  const log = useQuery({
    queryKey: [session.agentId, "access-log", patientId],
    queryFn: () => api.get<AccessEntry[]>(`/api/v1/patients/${patientId}/access-log`),
  });
  return (
    <Panel title="Patient access log" className="access-log">
      {log.isPending && <Loading what="the access log" />}
      {log.isError && <ErrorNote error={log.error} what="Loading the access log" />}
      {log.data && (
        <ol className="timeline" data-testid="access-log">
          {log.data.map((e, i) => (
            <li key={i} className={e.outcome === "REFUSED" ? "ignored" : ""} data-action={e.action}>
              <time dateTime={e.at}>{formatInZone(e.at, zone)}</time>
              <strong>{e.agentId}</strong> {e.action}
              {e.outcome === "REFUSED" && <span className="muted"> (refused)</span>}
            </li>
          ))}
        </ol>
      )}
    </Panel>
  );
}

type ActionsProps = { appointment: Detail; cancel: boolean; complete: boolean; onChanged: (status: string) => void };

function Actions({ appointment, cancel, complete, onChanged }: ActionsProps) {
  const { api } = useAuth();
  const refresh = useRefreshAfterChange();
  const [reason, setReason] = useState("");
  const [cancelling, setCancelling] = useState(false);
  const path = `/api/v1/appointments/${appointment.appointmentId}`;
  const command = useMutation({
    mutationFn: (body: { reason: string } | null) =>
      api.post<{ status: string }>(body ? `${path}/cancel` : `${path}/complete`, body ?? {}),
    onSuccess: (result) => {
      setCancelling(false);
      onChanged(result.status);
      return refresh();
    },
  });
  return (
    <div className="commands">
      {command.isError && <ErrorNote error={command.error} what="The change" />}
      {cancelling ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            command.mutate({ reason: reason.trim() });
          }}
        >
          <textarea aria-label="Cancel reason" placeholder="Why is it cancelled?" required maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} />
          <button type="submit" className="danger" disabled={!reason.trim() || command.isPending}>
            Cancel appointment
          </button>
          <button type="button" onClick={() => setCancelling(false)}>
            Keep it
          </button>
        </form>
      ) : (
        <>
          {complete && (
            <button type="button" className="primary" disabled={command.isPending} onClick={() => command.mutate(null)}>
              Complete
            </button>
          )}
          {cancel && (
            <button type="button" className="danger" onClick={() => setCancelling(true)}>
              Cancel…
            </button>
          )}
        </>
      )}
    </div>
  );
}
