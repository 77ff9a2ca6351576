-- An import may run the automations of crm.lead.created for the leads it creates (each one
-- then gets its crm.lead.created event, as POST /leads would give it). Off by default: a bulk
-- import emits one crm.lead.imported per batch, and 100,000 welcome emails are rarely wanted.
ALTER TABLE imports ADD COLUMN trigger_automations boolean NOT NULL DEFAULT false;
