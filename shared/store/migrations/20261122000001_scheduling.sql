-- Write side, outbox, idempotency markers, saga state and the appointment read model.
-- btree_gist lets the exclusion constraint combine provider equality with range overlap.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE clinics (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    time_zone   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per open weekday (ISO: 1 = Monday); a missing weekday means closed.
CREATE TABLE clinic_opening_hours (
    clinic_id   uuid NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    iso_weekday smallint NOT NULL CHECK (iso_weekday BETWEEN 1 AND 7),
    opens       time NOT NULL,
    closes      time NOT NULL,
    PRIMARY KEY (clinic_id, iso_weekday),
    CHECK (closes > opens)
);

CREATE TABLE providers (
    id          uuid PRIMARY KEY,
    clinic_id   uuid NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    name        text NOT NULL
);
CREATE INDEX providers_by_clinic ON providers (clinic_id);

CREATE TABLE patients (
    id                    uuid PRIMARY KEY,
    name                  text NOT NULL,
    email                 text NOT NULL,
    phone                 text,
    insurance_payer       text,
    insurance_member_id   text,
    insurance_valid_from  date,
    insurance_valid_to    date,
    vision_coverage       boolean NOT NULL DEFAULT false,
    CHECK ((insurance_payer IS NULL) = (insurance_member_id IS NULL)),
    CHECK (insurance_valid_to IS NULL OR insurance_valid_from IS NULL OR insurance_valid_to >= insurance_valid_from)
);

CREATE TABLE appointments (
    id             uuid PRIMARY KEY,
    saga_id        uuid NOT NULL UNIQUE,
    clinic_id      uuid NOT NULL REFERENCES clinics (id),
    provider_id    uuid NOT NULL REFERENCES providers (id),
    patient_id     uuid NOT NULL REFERENCES patients (id),
    type           text NOT NULL CHECK (type IN ('ROUTINE', 'FOLLOW_UP', 'EMERGENCY', 'CONTACT_LENS')),
    notes          text,
    status         text NOT NULL CHECK (status IN ('PENDING_INSURANCE', 'AWAITING_CONFIRMATION', 'CONFIRMED', 'COMPLETED', 'CANCELLED')),
    version        integer NOT NULL CHECK (version >= 1),
    scheduled_for  timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    cancel_reason  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > scheduled_for),
    -- No double booking, enforced where concurrent requests meet: the database.
    CONSTRAINT appointments_no_double_booking EXCLUDE USING gist (
        provider_id WITH =,
        tstzrange(scheduled_for, ends_at) WITH &&
    ) WHERE (status <> 'CANCELLED')
);
CREATE INDEX appointments_by_clinic_time ON appointments (clinic_id, scheduled_for);

-- Records decided in the same transaction as the state change; published at least once.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    topic         text NOT NULL,
    record_key    text NOT NULL,
    event_type    text NOT NULL,
    payload       bytea NOT NULL,
    headers       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Wakes the local outbox relay (LISTEN outbox) as soon as rows commit.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- One marker per (consumer, input record): written in the effect's transaction, so a
-- redelivered record is recognised and skipped.
CREATE TABLE processed_messages (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE saga_state (
    saga_id         uuid PRIMARY KEY,
    appointment_id  uuid NOT NULL UNIQUE,
    step            text NOT NULL CHECK (step IN ('INSURANCE_VERIFICATION', 'SENDING_CONFIRMATION', 'COMPLETED', 'COMPENSATING', 'CANCELLED')),
    version         integer NOT NULL CHECK (version >= 1),
    deadline        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saga_state_due ON saga_state (deadline) WHERE deadline IS NOT NULL;

-- Read model, filled by project-appointments. Descriptive columns are nullable because an
-- event newer than AppointmentCreated may arrive first; status/version only move forward.
CREATE TABLE appointment_summary (
    appointment_id    uuid PRIMARY KEY,
    saga_id           uuid,
    clinic_id         uuid,
    clinic_name       text,
    provider_id       uuid,
    provider_name     text,
    patient_id        uuid,
    patient_name      text,
    scheduled_for     timestamptz,
    duration_minutes  integer,
    type              text,
    status            text NOT NULL,
    cancel_reason     text,
    version           integer NOT NULL,
    created_at        timestamptz,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX appointment_summary_by_clinic_time ON appointment_summary (clinic_id, scheduled_for DESC);
CREATE INDEX appointment_summary_recent ON appointment_summary (created_at DESC);
