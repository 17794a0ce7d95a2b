-- project-metrics: appointments created per clinic per event-time hour (UTC, on the hour).
-- A counter per window; every change is also emitted as an HourlyCount record.
CREATE TABLE metrics_hourly (
    clinic_id     uuid NOT NULL,
    window_start  timestamptz NOT NULL,
    count         bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (clinic_id, window_start)
);

-- project-metrics: one row per appointment with the event time of each funnel stage. Every
-- event sets only its own column, so arrival order does not matter; the clinic and the
-- 30-minute funnel window come from AppointmentCreated, so a stage seen before its creation
-- is kept and counted once the creation arrives.
CREATE TABLE metrics_appointments (
    appointment_id  uuid PRIMARY KEY,
    clinic_id       uuid,
    created_at      timestamptz,
    funnel_window   timestamptz,
    confirmed_at    timestamptz,
    cancelled_at    timestamptz,
    completed_at    timestamptz,
    CHECK ((clinic_id IS NULL) = (created_at IS NULL) AND (created_at IS NULL) = (funnel_window IS NULL))
);
CREATE INDEX metrics_appointments_funnel ON metrics_appointments (clinic_id, funnel_window);
CREATE INDEX metrics_appointments_confirmed ON metrics_appointments (clinic_id, confirmed_at);
CREATE INDEX metrics_appointments_cancelled ON metrics_appointments (clinic_id, cancelled_at);
CREATE INDEX metrics_appointments_completed ON metrics_appointments (clinic_id, completed_at);

-- Write side of call-center calls: started and ended through the API, each change with its
-- CallStarted / CallEnded record in the outbox (same transaction).
CREATE TABLE calls (
    id              uuid PRIMARY KEY,
    clinic_id       uuid NOT NULL REFERENCES clinics (id),
    agent_id        text NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    outcome         text CHECK (outcome IN ('BOOKED', 'RESCHEDULED', 'CANCELLED', 'INFORMATION', 'ABANDONED')),
    appointment_id  uuid REFERENCES appointments (id),
    CHECK ((ended_at IS NULL) = (outcome IS NULL)),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);

-- project-calls: calls as the topics tell them. CallStarted and CallEnded each fill their own
-- columns (both carry clinic and agent), in any arrival order.
CREATE TABLE call_summary (
    call_id         uuid PRIMARY KEY,
    clinic_id       uuid NOT NULL,
    agent_id        text NOT NULL,
    started_at      timestamptz,
    ended_at        timestamptz,
    outcome         text,
    appointment_id  uuid
);
CREATE INDEX call_summary_started ON call_summary (clinic_id, started_at);
CREATE INDEX call_summary_ended ON call_summary (clinic_id, ended_at);
