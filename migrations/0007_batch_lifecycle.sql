-- DeviceHub Station schema: batches a production lead can run (issue 14, finding 5).
-- Append-only: never edit a released migration, add the next numbered file instead.
--
-- `lot` and `work_order` name the production run a batch belongs to (NULL when not given).
-- `state` is the batch's lifecycle: 'open' (issues devices), 'closed' (issues no more; its
-- unflashed devices stay as they are) or 'cancelled' (issues no more; its unflashed devices
-- were deactivated, never deleted). `ended_at` / `ended_by` say when and by whom it was closed
-- or cancelled.
ALTER TABLE batches ADD COLUMN lot TEXT;
ALTER TABLE batches ADD COLUMN work_order TEXT;
ALTER TABLE batches ADD COLUMN state TEXT NOT NULL DEFAULT 'open'
    CHECK (state IN ('open', 'closed', 'cancelled'));
ALTER TABLE batches ADD COLUMN ended_at TEXT;
ALTER TABLE batches ADD COLUMN ended_by TEXT;
CREATE INDEX batches_lot ON batches(lot);
CREATE INDEX batches_work_order ON batches(work_order);
