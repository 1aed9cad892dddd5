-- Index only what is looked up. A request opened outside a call has no call id: those NULLs
-- were never searched for, yet every registration paid an index entry for one. A lookup
-- `call_id = $1` implies NOT NULL, so it uses the partial index as before. (The UNIQUE
-- (created_by, idempotency_key) constraint stays whole here: SQLite cannot drop a table
-- constraint without rebuilding the table; PostgreSQL's migration makes it partial too.)
DROP INDEX requests_call;
CREATE INDEX requests_call ON requests (call_id) WHERE call_id IS NOT NULL;
