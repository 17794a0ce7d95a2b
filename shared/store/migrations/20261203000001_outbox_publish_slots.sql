-- Outbox rows are published by slot, a hash of their topic and key (messaging::publisher): one
-- publisher at a time per slot keeps the rows of one key in order, and the slots publish side
-- by side, so one broker round trip no longer holds up every other row. The number of slots
-- (8) is messaging::publisher::SLOTS; `& 7` keeps a negative hash in 0..=7.
ALTER TABLE outbox
    ADD COLUMN publish_slot smallint NOT NULL
    GENERATED ALWAYS AS ((hashtext(topic || '/' || record_key) & 7)::smallint) STORED;
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (publish_slot, id) WHERE published_at IS NULL;
