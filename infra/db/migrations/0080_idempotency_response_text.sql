-- An idempotent replay answers the first response's bytes: `json` keeps the text as stored
-- (key order included), where `jsonb` reorders the keys of the object it parses.
ALTER TABLE idempotency_keys ALTER COLUMN response TYPE json USING response::json;
