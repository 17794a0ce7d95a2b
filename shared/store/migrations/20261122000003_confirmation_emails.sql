-- Exactly one confirmation email per booking saga. send-confirmation claims the saga here in its
-- own, immediately committed statement before it calls the mail provider, so the claim survives
-- a crash and no later attempt (a redelivery, a duplicate command) sends a second email.
-- SENDING: claimed, outcome not yet recorded; SENT: the provider accepted it (message_id is
-- NULL when an attempt died during the call and its outcome is unknown).
CREATE TABLE confirmation_emails (
    saga_id         uuid PRIMARY KEY,
    appointment_id  uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('SENDING', 'SENT')),
    message_id      text,
    claimed_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
