// Recent appointments from the read model, most recently booked first: paged, filtered by the
// overview's clinic and by status, each time shown in its clinic's zone.

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { AppointmentPage } from "./api";
import { useAuth } from "./auth";
import { navigate } from "./router";
import { chipFor, STATUSES, typeLabel } from "./status";
import { formatInZone } from "./time";
import { Empty, ErrorNote, Loading, Panel, StatusChip } from "./ui";

export const PAGE_SIZE = 10;

export function AppointmentsTable({ clinicId }: { clinicId: string }) {
  const { api, session } = useAuth();
  const [status, setStatus] = useState("");
  const [pageByFilter, setPage] = useState({ filter: "", page: 0 });
  const filter = `${clinicId}|${status}`;
  // A new filter starts again at the first page.
  const page = pageByFilter.filter === filter ? pageByFilter.page : 0;
  const list = useQuery({
    queryKey: [session.agentId, "appointments", clinicId, status, page],
    queryFn: () => api.get<AppointmentPage>("/api/v1/appointments", { page, size: PAGE_SIZE, clinicId, status }),
    placeholderData: keepPreviousData,
  });
  const data = list.data;
  return (
    <Panel
      title="Recent appointments"
      className="appointments"
      actions={
        <select aria-label="Status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">Any status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {chipFor(s).label}
            </option>
          ))}
        </select>
      }
    >
      {list.isPending && <Loading what="appointments" />}
      {list.isError && <ErrorNote error={list.error} what="Loading the appointments" />}
      {data && data.items.length === 0 && (
        <Empty>{clinicId || status ? "No appointments match these filters." : "No appointments yet: book the first one."}</Empty>
      )}
      {data && data.items.length > 0 && (
        <>
          {/* While a new page or filter loads, the previous rows stay, dimmed. */}
          <table aria-busy={list.isPlaceholderData} className={list.isPlaceholderData ? "stale" : undefined}>
            <thead>
              <tr>
                <th>Patient</th>
                <th>Clinic</th>
                <th>Date &amp; time (clinic)</th>
                <th>Type</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((a) => (
                <tr key={a.appointmentId} data-appointment-id={a.appointmentId} onClick={() => navigate(`/appointments/${a.appointmentId}`)}>
                  <td>{a.patientName ?? "—"}</td>
                  <td>{a.clinicName ?? "—"}</td>
                  <td>{a.scheduledFor && a.clinicTimeZone ? formatInZone(a.scheduledFor, a.clinicTimeZone) : "—"}</td>
                  <td>{typeLabel(a.type)}</td>
                  <td>
                    <StatusChip status={a.status} />
                    {a.cancelReason && <span className="reason">{a.cancelReason}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button type="button" disabled={page === 0} onClick={() => setPage({ filter, page: page - 1 })}>
              Previous
            </button>
            <span>
              Page {data.page + 1} of {Math.max(1, data.totalPages)} · {data.totalItems} appointments
            </span>
            <button type="button" disabled={page + 1 >= data.totalPages} onClick={() => setPage({ filter, page: page + 1 })}>
              Next
            </button>
          </nav>
        </>
      )}
    </Panel>
  );
}
