-- The booking saga's timeline: every input the orchestrator received (a reply, or the sweeper's
-- passed deadline), the step it led to, and whether it was applied or ignored (a duplicate, a
-- late reply, one that does not fit the step). GET /api/v1/appointments/{id} shows it.
CREATE TABLE saga_timeline (
    id           bigserial PRIMARY KEY,
    saga_id      uuid NOT NULL,
    input        text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('APPLIED', 'IGNORED')),
    step         text NOT NULL,
    detail       text,
    occurred_at  timestamptz NOT NULL
);
CREATE INDEX saga_timeline_saga ON saga_timeline (saga_id, id);

-- InsuranceVerified moves a PENDING_INSURANCE appointment to AWAITING_CONFIRMATION on the write
-- side; no appointment event carries that change, so the read model records the fact (in any
-- arrival order) and derives the status from it while the row is still PENDING_INSURANCE.
ALTER TABLE appointment_summary ADD COLUMN insurance_verified_at timestamptz;
