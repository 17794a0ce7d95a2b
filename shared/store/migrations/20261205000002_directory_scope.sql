-- The patient directory, scoped: a patient belongs to the clinic they registered at (their home
-- clinic) and is also linked to every clinic they booked at; an agent's search sees only the
-- patients linked to the agent's clinics (store::catalog::search_patients). A trigram index
-- serves the search's `name ILIKE '%…%'` without reading the whole table.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE patients ADD COLUMN home_clinic_id uuid REFERENCES clinics (id);
CREATE INDEX patients_name_trgm ON patients USING gin (name gin_trgm_ops);
CREATE INDEX appointments_by_patient ON appointments (patient_id, clinic_id);
