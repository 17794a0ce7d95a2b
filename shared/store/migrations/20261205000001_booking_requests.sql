-- Idempotency keys of POST /api/v1/appointments: a booking retried with the same key (by the
-- same agent) answers what the first answered instead of booking twice. Only a hash of the
-- request is kept, never its fields. A key is reusable once its row is older than
-- store::idempotency::KEY_RETENTION.
CREATE TABLE booking_requests (
    agent_id         text NOT NULL,
    idempotency_key  text NOT NULL,
    request_hash     bytea NOT NULL,
    appointment_id   uuid NOT NULL,
    saga_id          uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, idempotency_key)
);
