-- Automations act on records (tags, stage moves, mails): their audit rows name the automation
-- as the actor (actor_type 'automation', actor_id = the automation's id), like an API key's
-- rows name the key. record_history.actor_type has no CHECK and needs no change.

ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_type_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_actor_type_check
    CHECK (actor_type IN ('user', 'api_key', 'system', 'anonymous', 'automation'));
