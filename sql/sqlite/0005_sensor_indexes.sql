-- The history-retention sensor counts finished cycles older than the
-- retention; without this index it scanned every cycle on every observation.
CREATE INDEX ooda_cycle_finished ON ooda_cycle (finished_at) WHERE finished_at IS NOT NULL;
