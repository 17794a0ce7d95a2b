-- Who read or changed which patient's data through the API (store::audit). Ids only, never a
-- patient's name, contact details or insurance. Append-only for everyone, the API's login
-- included: a trigger refuses UPDATE, DELETE and TRUNCATE. Kept for six years (SECURITY.md).
CREATE TABLE access_audit (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    agent_id         text NOT NULL,
    -- The clinics the agent acted for: the appointment's clinic, or the clinics a search covered.
    clinic_ids       uuid[] NOT NULL,
    action           text NOT NULL,
    route            text NOT NULL,
    patient_ids      uuid[] NOT NULL,
    appointment_ids  uuid[] NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('SERVED', 'REFUSED'))
);
CREATE INDEX access_audit_by_patient ON access_audit USING gin (patient_ids);

CREATE FUNCTION access_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER access_audit_no_update_or_delete BEFORE UPDATE OR DELETE ON access_audit
    FOR EACH ROW EXECUTE FUNCTION access_audit_is_append_only();
CREATE TRIGGER access_audit_no_truncate BEFORE TRUNCATE ON access_audit
    FOR EACH STATEMENT EXECUTE FUNCTION access_audit_is_append_only();
