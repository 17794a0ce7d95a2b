// Booking as an agent does it on the phone: clinic → day → exam type → a free slot from the
// availability endpoint → patient (search) → submit. The exam type comes before the slot
// because it sets the slot length: a 45-minute
// contact-lens fitting does not fit every gap a 20-minute follow-up does.
// After the 202 the screen shows PROCESSING, then the live status as the saga moves.

import { useMutation, useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { APPOINTMENT_TYPES, ApiError, type AppointmentDetail, type AppointmentType, type Availability, type BookingAccepted, type Clinic, type Patient } from "./api";
import { useAuth } from "./auth";
import { useCalls } from "./calls";
import { useClinics, useRefreshAfterChange } from "./queries";
import { Link } from "./router";
import { chipFor, typeLabel } from "./status";
import { dateInZone, formatInZone } from "./time";
import { ClinicSelect, Empty, ErrorNote, Loading, Panel, StatusChip } from "./ui";

interface Slot {
  providerId: string;
  providerName: string;
  start: string;
  localTime: string;
}

export function BookAppointment() {
  const clinics = useClinics();
  const [booking, setBooking] = useState<BookingAccepted | null>(null);
  if (booking) return <BookingProgress booking={booking} onAnother={() => setBooking(null)} />;
  return (
    <Panel title="Book an appointment" className="book">
      {clinics.isPending && <Loading what="clinics" />}
      {clinics.isError && <ErrorNote error={clinics.error} what="Loading the clinics" />}
      {clinics.data && <BookingForm clinics={clinics.data} onBooked={setBooking} />}
    </Panel>
  );
}

function BookingForm({ clinics, onBooked }: { clinics: Clinic[]; onBooked: (b: BookingAccepted) => void }) {
  const { api, session } = useAuth();
  const calls = useCalls();
  const [clinicId, setClinicId] = useState(() => calls.active?.clinicId ?? (clinics.length === 1 ? clinics[0].id : ""));
  const clinic = clinics.find((c) => c.id === clinicId);
  const today = clinic ? dateInZone(new Date(), clinic.timeZone) : "";
  const [date, setDate] = useState("");
  const [type, setType] = useState<AppointmentType>("ROUTINE");
  const [slot, setSlot] = useState<Slot | null>(null);
  const [patient, setPatient] = useState<Patient | null>(null);
  const [notes, setNotes] = useState("");
  // One key per distinct booking: pressing Book again after an error or a lost answer retries
  // the same request, which the API books at most once; changing any field makes a new one.
  const idempotencyKey = useMemo(
    () => crypto.randomUUID(),
    [clinicId, patient?.patientId, slot?.providerId, slot?.start, type, notes],
  );
  const availability = useQuery({
    queryKey: [session.agentId, "availability", clinicId, date, type],
    queryFn: () => api.get<Availability>(`/api/v1/clinics/${clinicId}/availability`, { date, type }),
    enabled: Boolean(clinic && date),
  });
  const book = useMutation({
    mutationFn: () =>
      api.post<BookingAccepted>("/api/v1/appointments", {
        clinicId,
        patientId: patient?.patientId,
        providerId: slot?.providerId,
        dateTime: slot?.start,
        type,
        ...(notes.trim() ? { notes: notes.trim() } : {}),
      }, { "Idempotency-Key": idempotencyKey }),
    onSuccess: (accepted) => {
      if (calls.active) calls.booked(accepted.appointmentId);
      onBooked(accepted);
    },
    onError: (error) => {
      // Someone else took the slot meanwhile: show the slots as they are now.
      if (error instanceof ApiError && error.status === 409) {
        setSlot(null);
        availability.refetch();
      }
    },
  });
  const choose = <T,>(set: (v: T) => void) => (v: T) => {
    set(v);
    setSlot(null);
  };
  return (
    <form
      className="booking"
      onSubmit={(e) => {
        e.preventDefault();
        book.mutate();
      }}
    >
      <fieldset>
        <legend>1 · Clinic</legend>
        <ClinicSelect label="Clinic" clinics={clinics} value={clinicId} onChange={choose(setClinicId)} none="Choose a clinic…" withZone required />
      </fieldset>
      <fieldset disabled={!clinic}>
        <legend>2 · Day and exam</legend>
        <input type="date" aria-label="Date" min={today} value={date} onChange={(e) => choose(setDate)(e.target.value)} required />
        <select aria-label="Exam type" value={type} onChange={(e) => choose(setType)(e.target.value as AppointmentType)}>
          {APPOINTMENT_TYPES.map((t) => (
            <option key={t} value={t}>
              {typeLabel(t)}
            </option>
          ))}
        </select>
        {clinic && <span className="muted">Times are {clinic.name}'s local time ({clinic.timeZone}).</span>}
      </fieldset>
      <fieldset disabled={!availability.data}>
        <legend>3 · Free slot</legend>
        {availability.isFetching && !availability.data && <Loading what="free slots" />}
        {availability.isError && <ErrorNote error={availability.error} what="Loading the free slots" />}
        {availability.data && <SlotPicker availability={availability.data} slot={slot} onSlot={setSlot} />}
      </fieldset>
      <fieldset disabled={!slot}>
        <legend>4 · Patient</legend>
        <PatientSearch patient={patient} onPatient={setPatient} />
        <textarea aria-label="Notes" placeholder="Notes (optional)" maxLength={1000} value={notes} onChange={(e) => setNotes(e.target.value)} />
      </fieldset>
      {book.isError && <ErrorNote error={book.error} what="Booking" />}
      <button type="submit" className="primary" disabled={!slot || !patient || book.isPending}>
        {book.isPending ? "Booking…" : slot && clinic ? `Book ${typeLabel(type).toLowerCase()} at ${slot.localTime} with ${slot.providerName}` : "Book"}
      </button>
    </form>
  );
}

function SlotPicker({ availability, slot, onSlot }: { availability: Availability; slot: Slot | null; onSlot: (s: Slot) => void }) {
  const providers = availability.providers.filter((p) => p.slots.length > 0);
  if (providers.length === 0) return <Empty>No free {availability.durationMinutes}-minute slots on this day (closed or fully booked).</Empty>;
  return (
    <div className="slots">
      {providers.map((p) => (
        <div key={p.providerId} className="slot-row">
          <span className="slot-provider">{p.name}</span>
          <div className="slot-times">
            {p.slots.map((s) => {
              const selected = slot?.providerId === p.providerId && slot.start === s.start;
              return (
                <button
                  type="button"
                  key={s.start}
                  className={selected ? "slot selected" : "slot"}
                  aria-pressed={selected}
                  data-provider-id={p.providerId}
                  onClick={() => onSlot({ providerId: p.providerId, providerName: p.name, start: s.start, localTime: s.localTime })}
                >
                  {s.localTime}
                </button>
              );
            })}
          </div>
        </div>
      ))}
    </div>
  );
}

function PatientSearch({ patient, onPatient }: { patient: Patient | null; onPatient: (p: Patient | null) => void }) {
  const { api, session } = useAuth();
  const [q, setQ] = useState("");
  const term = q.trim();
  const found = useQuery({
    queryKey: [session.agentId, "patients", term],
    queryFn: () => api.get<Patient[]>("/api/v1/patients", { q: term, size: 8 }),
    enabled: term.length >= 2 && !patient,
    refetchInterval: false,
  });
  if (patient) {
    return (
      <p className="chosen">
        <strong data-testid="chosen-patient">{patient.name}</strong>{" "}
        <button type="button" className="link" onClick={() => onPatient(null)}>
          change
        </button>
      </p>
    );
  }
  return (
    <div className="patient-search">
      <input type="search" aria-label="Search patient" placeholder="Patient name (2+ letters)" value={q} onChange={(e) => setQ(e.target.value)} />
      {found.isError && <ErrorNote error={found.error} what="Searching patients" />}
      {found.data && found.data.length === 0 && <Empty>No patient matches “{term}”.</Empty>}
      <ul className="patients">
        {found.data?.map((p) => (
          <li key={p.patientId}>
            <button type="button" onClick={() => onPatient(p)} data-patient-id={p.patientId}>
              {p.name}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The booking after its 202: PROCESSING until the read model has it, then its live status,
 * polled every second until the saga has decided. */
function BookingProgress({ booking, onAnother }: { booking: BookingAccepted; onAnother: () => void }) {
  const { api, session } = useAuth();
  const refresh = useRefreshAfterChange();
  const appointment = useQuery({
    queryKey: [session.agentId, "booking", booking.appointmentId],
    queryFn: async () => {
      try {
        return await api.get<AppointmentDetail>(`/api/v1/appointments/${booking.appointmentId}`);
      } catch (e) {
        // 404 until the projection has the appointment: still processing.
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
    refetchInterval: (query) => (query.state.data && !chipFor(query.state.data.status).inFlight ? false : 1000),
  });
  const detail = appointment.data;
  const status = detail?.status ?? booking.status;
  const decided = !chipFor(status).inFlight;
  useEffect(() => {
    // The saga has decided: the table, KPIs and slots show it now rather than at the next tick.
    if (decided) refresh();
  }, [decided, refresh]);
  return (
    <Panel title="Booking" className="booking-progress">
      <p className="progress-status">
        Status: <StatusChip status={status} />
        {detail?.saga && <span className="muted"> · saga step {detail.saga.step}</span>}
      </p>
      {detail?.scheduledFor && detail.clinicTimeZone && (
        <p>
          {detail.patientName} · {detail.clinicName} · {formatInZone(detail.scheduledFor, detail.clinicTimeZone)} · {typeLabel(detail.type)}
        </p>
      )}
      {detail?.cancelReason && <p className="reason">{detail.cancelReason}</p>}
      {appointment.isError && <ErrorNote error={appointment.error} what="Following the booking" />}
      <p className="actions">
        <Link to={`/appointments/${booking.appointmentId}`}>Open the appointment</Link>
        <button type="button" onClick={onAnother}>
          Book another
        </button>
      </p>
    </Panel>
  );
}
