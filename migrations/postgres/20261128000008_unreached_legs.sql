-- Calls whose operator phone never rang (it answered 486 Busy Here, was unavailable or
-- congested, or the caller hung up before the 180) are recorded too: `calls.ringing_at` stays
-- NULL until some phone of the call rings, `call_legs.rang_at` is NULL for a phone that never
-- rang (its `ended_at` and `outcome` say when and why). `calls.ended_at` and `outcome` are now set
-- when the whole call is over (the caller's leg is gone too), not when the last leg ended.
ALTER TABLE calls ALTER COLUMN ringing_at DROP NOT NULL;
ALTER TABLE call_legs ALTER COLUMN rang_at DROP NOT NULL;
