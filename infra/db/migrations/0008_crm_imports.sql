-- Lead imports, as they run: an import waits for its file (uploaded to S3 through a link)
-- before it is queued; tags can be given to every imported lead.
ALTER TABLE imports DROP CONSTRAINT imports_status_check;
ALTER TABLE imports ADD CONSTRAINT imports_status_check
    CHECK (status IN ('awaiting_upload', 'queued', 'running', 'completed', 'failed'));
ALTER TABLE imports ADD COLUMN default_tags text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(default_tags) <= 50);
-- GET /imports lists a tenant's imports, newest first
CREATE INDEX imports_tenant_created ON imports (tenant_id, created_at, id);

-- The leads counter of the plan limits, per statement instead of per row: the row trigger of
-- 0004 bumps the tenant's one counter row once per lead, and within one transaction every
-- bump walks the row's version chain left by the previous ones, so a 1,000-lead import batch
-- cost ~0.1 ms per lead more for each lead before it. A statement trigger bumps it once per
-- tenant with the count of the rows (same counts, whatever writes the rows).
CREATE FUNCTION track_usage_rows() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
    DECLARE
        metric   text := TG_ARGV[0];
        changed  record;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            FOR changed IN SELECT tenant_id, count(*) AS n FROM new_rows GROUP BY tenant_id LOOP
                PERFORM usage_bump(changed.tenant_id, metric, CAST(changed.n AS integer));
            END LOOP;
        ELSE
            FOR changed IN SELECT tenant_id, count(*) AS n FROM old_rows GROUP BY tenant_id LOOP
                PERFORM usage_bump(changed.tenant_id, metric, -CAST(changed.n AS integer));
            END LOOP;
        END IF;
        RETURN NULL;
    END
    $$;
DROP TRIGGER leads_usage ON leads;
CREATE TRIGGER leads_usage_inserted AFTER INSERT ON leads REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION track_usage_rows('leads');
CREATE TRIGGER leads_usage_deleted AFTER DELETE ON leads REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION track_usage_rows('leads');
GRANT EXECUTE ON FUNCTION track_usage_rows() TO crm_app;

-- The same for the leads' search rows on insert (an import inserts 1,000 leads at a time);
-- updates keep the row trigger of 0007 (they come one lead at a time).
CREATE FUNCTION crm_index_inserted_leads() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
    BEGIN
        INSERT INTO lead_search (id, tenant_id, live, document, tags, custom_fields)
        SELECT id, tenant_id, deleted_at IS NULL,
               crm_search_text(name, email, company, phone), tags, custom_fields
        FROM new_rows;
        RETURN NULL;
    END
    $$;
REVOKE ALL ON FUNCTION crm_index_inserted_leads() FROM PUBLIC;
DROP TRIGGER leads_search ON leads;
CREATE TRIGGER leads_search_inserted AFTER INSERT ON leads REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_index_inserted_leads();
CREATE TRIGGER leads_search_updated AFTER UPDATE OF name, email, company, phone, tags,
    custom_fields, deleted_at ON leads FOR EACH ROW EXECUTE FUNCTION crm_index_lead();
