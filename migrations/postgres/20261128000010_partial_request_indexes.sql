-- Index only what is looked up. A request opened outside a call has no call id, and a client
-- that sends no Idempotency-Key has no key: those NULLs were never searched for, yet every
-- registration paid an entry for each in two indexes. A lookup `call_id = $1` (or by key) implies
-- NOT NULL, so it uses the partial index as before; NULL keys never conflicted under UNIQUE.
DROP INDEX requests_call;
CREATE INDEX requests_call ON requests (call_id) WHERE call_id IS NOT NULL;
ALTER TABLE requests DROP CONSTRAINT requests_created_by_idempotency_key_key;
CREATE UNIQUE INDEX requests_idempotency ON requests (created_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
