-- The CRM core: leads in full, contacts, tags, categories, custom fields, field-by-field
-- history, notes, the search indexes (accent- and case-insensitive, partial words), imports,
-- and the purge of soft-deleted records.
-- Every tenant table: tenant_id + ENABLE + FORCE ROW LEVEL SECURITY + tenant_isolation.
-- References between tenant tables are composite (tenant_id, id) keys, so a row can never
-- point into another tenant.

-- ------------------------------------------------------------------ search
-- unaccent + pg_trgm (contrib): "joao" finds "João", "silv" finds "Silva". unaccent() is only
-- STABLE (its dictionary could change), so an index cannot use it directly: crm_unaccent names
-- the dictionary explicitly and is declared IMMUTABLE, the usual wrapper.
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

CREATE FUNCTION crm_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;

-- What a search matches: the parts, lower-cased and unaccented, space-separated. A query's
-- words are normalised with the same function.
CREATE FUNCTION crm_search_text(VARIADIC parts text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT lower(public.crm_unaccent(array_to_string(parts, ' '))) $$;

-- Whether a search text contains every (normalised) word: a list's filter when a search is
-- broad (see crm_search_records below). A function the planner cannot see into, on purpose:
-- it then assumes many rows match (true: the search returned more than its limit) and walks
-- the list's order index, where several LIKEs would make it expect one row and scan the whole
-- table. PL/pgSQL, not SQL: a SQL function with a FROM is re-planned per row (15x slower).
CREATE FUNCTION crm_contains_words(document text, words text[]) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
    DECLARE
        word text;
    BEGIN
        FOREACH word IN ARRAY words LOOP
            IF document NOT LIKE '%' || word || '%' THEN
                RETURN false;
            END IF;
        END LOOP;
        RETURN true;
    END
    $$;

-- Phones compare by their digits: "+55 (11) 9999-0000" and "551199990000" are one number.
CREATE FUNCTION crm_phone_digits(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT nullif(regexp_replace($1, '[^0-9]', '', 'g'), '') $$;

-- ------------------------------------------------------------------ tags and categories
-- Tags are named per tenant (lower-cased by the API); records carry their names in a text[]
-- (one GIN index answers "has these tags"). Deleting a tag removes it from every record.
CREATE TABLE tags (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 50 AND name = lower(name)
                                     AND position(',' IN name) = 0),
    color       text CHECK (color ~ '^#[0-9a-f]{6}$'),
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
ALTER TABLE tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tags
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- A record's category is a foreign key to this list: deleting a category clears it.
CREATE TABLE categories (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
ALTER TABLE categories ENABLE ROW LEVEL SECURITY;
ALTER TABLE categories FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON categories
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ custom fields
CREATE TABLE custom_fields (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    entity      text NOT NULL CHECK (entity IN ('lead', 'contact')),
    key         text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    type        text NOT NULL
                CHECK (type IN ('text', 'number', 'date', 'select', 'multi-select', 'bool')),
    required    boolean NOT NULL DEFAULT false,
    options     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    UNIQUE (tenant_id, entity, key),
    CHECK ((type IN ('select', 'multi-select')) = (cardinality(options) > 0))
);
ALTER TABLE custom_fields ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_fields FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custom_fields
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ leads
-- status: new -> qualified / lost (a reason) -> converted (only by converting: the contact
-- it became is contact_id). A merged lead is soft-deleted with merged_into set. deleted_at:
-- soft delete, restorable for 30 days, then purged (purge_expired_records below).
ALTER TABLE leads
    ADD COLUMN tags             text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 50),
    ADD COLUMN category         text,
    ADD COLUMN score            smallint CHECK (score BETWEEN 0 AND 100),
    ADD COLUMN custom_fields    jsonb NOT NULL DEFAULT '{}'
                                CHECK (jsonb_typeof(custom_fields) = 'object'),
    ADD COLUMN lost_reason      text CHECK (length(lost_reason) BETWEEN 1 AND 500),
    ADD COLUMN converted_at     timestamptz,
    ADD COLUMN contact_id       uuid,
    ADD COLUMN merged_into      uuid,
    ADD COLUMN deleted_at       timestamptz,
    ADD COLUMN phone_digits     text GENERATED ALWAYS AS (public.crm_phone_digits(phone)) STORED,
    -- what a search matches (see lead_search below for why it is also there, indexed)
    ADD COLUMN search_document  text
        GENERATED ALWAYS AS (public.crm_search_text(name, email, company, phone)) STORED,
    ADD CONSTRAINT leads_tenant_id UNIQUE (tenant_id, id),
    ADD CONSTRAINT leads_lost_reason CHECK ((status = 'lost') = (lost_reason IS NOT NULL)),
    ADD CONSTRAINT leads_converted CHECK ((status = 'converted') = (converted_at IS NOT NULL)),
    ADD CONSTRAINT leads_email_lower CHECK (email = lower(email)),
    ADD CONSTRAINT leads_lengths CHECK (
        length(name) BETWEEN 1 AND 200 AND length(email) <= 254 AND length(phone) <= 40
        AND length(company) <= 200 AND length(source) <= 60),
    ADD CONSTRAINT leads_category FOREIGN KEY (tenant_id, category)
        REFERENCES categories (tenant_id, name) ON DELETE SET NULL (category),
    ADD CONSTRAINT leads_merged_into FOREIGN KEY (tenant_id, merged_into)
        REFERENCES leads (tenant_id, id) ON DELETE SET NULL (merged_into);

-- Lists of live leads: every index leads with tenant_id (the RLS predicate), in the orders
-- GET /leads offers, id as the keyset tie-break (btree scans both ways: asc and desc).
CREATE INDEX leads_live_created ON leads (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_live_updated ON leads (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_live_name ON leads (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_live_score ON leads (tenant_id, score, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_live_status ON leads (tenant_id, status, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX leads_live_owner ON leads (tenant_id, owner_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX leads_live_category ON leads (tenant_id, category, created_at, id)
    WHERE deleted_at IS NULL;
-- duplicates: an email or phone already used by a live lead of the tenant
CREATE INDEX leads_live_email ON leads (tenant_id, email) WHERE deleted_at IS NULL;
CREATE INDEX leads_live_phone ON leads (tenant_id, phone_digits) WHERE deleted_at IS NULL;
-- the trash (GET /leads?deleted=true) and the purge
CREATE INDEX leads_deleted ON leads (tenant_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX leads_merged_into ON leads (tenant_id, merged_into) WHERE merged_into IS NOT NULL;

-- ------------------------------------------------------------------ contacts
CREATE TABLE contacts (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email            text CHECK (email = lower(email) AND length(email) <= 254),
    phone            text CHECK (length(phone) <= 40),
    company          text CHECK (length(company) <= 200),
    job_title        text CHECK (length(job_title) <= 200),
    owner_id         uuid,
    tags             text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 50),
    category         text,
    custom_fields    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object'),
    lead_id          uuid,  -- the lead it was converted from
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    phone_digits     text GENERATED ALWAYS AS (public.crm_phone_digits(phone)) STORED,
    search_document  text
        GENERATED ALWAYS AS (public.crm_search_text(name, email, company, phone, job_title)) STORED,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, category)
        REFERENCES categories (tenant_id, name) ON DELETE SET NULL (category),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE SET NULL (lead_id)
);
CREATE INDEX contacts_live_created ON contacts (tenant_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_live_updated ON contacts (tenant_id, updated_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_live_name ON contacts (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_live_owner ON contacts (tenant_id, owner_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_live_category ON contacts (tenant_id, category, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_live_email ON contacts (tenant_id, email) WHERE deleted_at IS NULL;
CREATE INDEX contacts_live_phone ON contacts (tenant_id, phone_digits) WHERE deleted_at IS NULL;
CREATE INDEX contacts_deleted ON contacts (tenant_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

ALTER TABLE leads ADD CONSTRAINT leads_contact FOREIGN KEY (tenant_id, contact_id)
    REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id);
-- 0006 left deals.contact_id without a key until contacts existed. NOT VALID: rows written
-- before this migration are not re-checked (ids from before had nothing to point at); every
-- new or changed reference is.
ALTER TABLE deals ADD CONSTRAINT deals_contact FOREIGN KEY (tenant_id, contact_id)
    REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id) NOT VALID;
CREATE INDEX deals_contact ON deals (tenant_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX deals_lead ON deals (tenant_id, lead_id) WHERE lead_id IS NOT NULL;

-- ------------------------------------------------------------------ search indexes
-- Search (q), tags and custom field filters need GIN indexes when they are selective. Row-
-- level security keeps such indexes of the record tables themselves from being used: LIKE
-- and @> (arrays, jsonb) are not LEAKPROOF, and the planner evaluates the RLS policy before
-- any of them, so it can only filter row by row. These tables therefore hold what those
-- filters read (the search text, tags, custom fields, live or deleted), kept in step by
-- triggers, with row-level security enabled but not forced: their owner reads them in
-- crm_search_records(), which takes the tenant from the transaction (app_tenant_id()) itself.
-- The app role has no privilege on them (the login_directory pattern of 0001).
-- A list asks crm_search_records() for at most a few thousand ids first: when the filter is
-- that selective, the list reads those records; when it matches more, filtering the
-- records' own columns (search_document, tags, custom_fields) while walking the list's order
-- index finds a page sooner than any index would.
CREATE TABLE lead_search (
    id             uuid PRIMARY KEY REFERENCES leads (id) ON DELETE CASCADE,
    tenant_id      uuid NOT NULL,
    live           boolean NOT NULL,
    document       text NOT NULL,
    tags           text[] NOT NULL,
    custom_fields  jsonb NOT NULL
);
CREATE TABLE contact_search (LIKE lead_search INCLUDING ALL);
ALTER TABLE contact_search
    ADD FOREIGN KEY (id) REFERENCES contacts (id) ON DELETE CASCADE;
-- Single-column GIN indexes: a tenant_id column in them (btree_gin) would make every search
-- intersect the tenant's whole posting list (a million entries for a large tenant); the
-- tenant is checked on the few rows the search term leaves.
CREATE INDEX lead_search_document ON lead_search USING gin (document gin_trgm_ops) WHERE live;
CREATE INDEX lead_search_tags ON lead_search USING gin (tags) WHERE live;
CREATE INDEX lead_search_custom ON lead_search USING gin (custom_fields jsonb_path_ops) WHERE live;
CREATE INDEX contact_search_document ON contact_search USING gin (document gin_trgm_ops)
    WHERE live;
CREATE INDEX contact_search_tags ON contact_search USING gin (tags) WHERE live;
CREATE INDEX contact_search_custom ON contact_search USING gin (custom_fields jsonb_path_ops)
    WHERE live;
ALTER TABLE lead_search ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_search
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
ALTER TABLE contact_search ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_search
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE FUNCTION crm_index_lead() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
    BEGIN
        INSERT INTO lead_search AS s (id, tenant_id, live, document, tags, custom_fields)
        VALUES (NEW.id, NEW.tenant_id, NEW.deleted_at IS NULL,
                crm_search_text(NEW.name, NEW.email, NEW.company, NEW.phone),
                NEW.tags, NEW.custom_fields)
        ON CONFLICT (id) DO UPDATE SET live = EXCLUDED.live, document = EXCLUDED.document,
            tags = EXCLUDED.tags, custom_fields = EXCLUDED.custom_fields;
        RETURN NULL;
    END
    $$;
CREATE FUNCTION crm_index_contact() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
    BEGIN
        INSERT INTO contact_search AS s (id, tenant_id, live, document, tags, custom_fields)
        VALUES (NEW.id, NEW.tenant_id, NEW.deleted_at IS NULL,
                crm_search_text(NEW.name, NEW.email, NEW.company, NEW.phone, NEW.job_title),
                NEW.tags, NEW.custom_fields)
        ON CONFLICT (id) DO UPDATE SET live = EXCLUDED.live, document = EXCLUDED.document,
            tags = EXCLUDED.tags, custom_fields = EXCLUDED.custom_fields;
        RETURN NULL;
    END
    $$;
REVOKE ALL ON FUNCTION crm_index_lead(), crm_index_contact() FROM PUBLIC;
CREATE TRIGGER leads_search AFTER INSERT OR UPDATE OF name, email, company, phone, tags,
    custom_fields, deleted_at ON leads FOR EACH ROW EXECUTE FUNCTION crm_index_lead();
CREATE TRIGGER contacts_search AFTER INSERT OR UPDATE OF name, email, company, phone, job_title,
    tags, custom_fields, deleted_at ON contacts FOR EACH ROW EXECUTE FUNCTION crm_index_contact();

-- Leads written before this migration. FORCE would hide them from the owner (no tenant is
-- set here): it is lifted for the copy, in this transaction.
ALTER TABLE leads NO FORCE ROW LEVEL SECURITY;
INSERT INTO lead_search (id, tenant_id, live, document, tags, custom_fields)
    SELECT id, tenant_id, deleted_at IS NULL, crm_search_text(name, email, company, phone),
           tags, custom_fields
    FROM leads;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;

-- Up to p_limit ids of the caller's tenant's live records (p_kind: lead or contact)
-- containing every word (anywhere, accents and case ignored; the caller escapes LIKE
-- wildcards), having every tag, and whose custom fields contain p_custom. The query is built
-- from fixed fragments and planned with its values, so each condition uses its GIN index.
CREATE FUNCTION crm_search_records(
    p_kind text, p_words text[], p_tags text[], p_custom jsonb, p_limit integer
) RETURNS SETOF uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
    DECLARE
        source  text := CASE p_kind WHEN 'lead' THEN 'lead_search'
                                    WHEN 'contact' THEN 'contact_search' END;
        query   text;
        word    text;
    BEGIN
        IF source IS NULL THEN
            RAISE EXCEPTION 'unknown record kind %', p_kind;
        END IF;
        query := format('SELECT s.id FROM %I s WHERE s.tenant_id = $1 AND s.live', source);
        FOREACH word IN ARRAY coalesce(p_words, '{}') LOOP
            query := query || format(' AND s.document LIKE %L',
                                     '%' || crm_search_text(word) || '%');
        END LOOP;
        IF cardinality(p_tags) > 0 THEN
            query := query || ' AND s.tags @> $2';
        END IF;
        IF p_custom IS NOT NULL AND p_custom <> '{}' THEN
            query := query || ' AND s.custom_fields @> $3';
        END IF;
        RETURN QUERY EXECUTE query || ' LIMIT $4' USING app_tenant_id(), p_tags, p_custom, p_limit;
    END
    $$;
REVOKE ALL ON FUNCTION crm_search_records(text, text[], text[], jsonb, integer) FROM PUBLIC;

-- ------------------------------------------------------------------ history and notes
-- One row per changed field (field NULL: a whole-record action such as created, deleted,
-- restored, merged, with the record's values in new_value). change_id groups the rows of one
-- change. Exactly one of lead_id / contact_id; purging the record purges its history.
CREATE TABLE record_history (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    lead_id     uuid,
    contact_id  uuid,
    change_id   uuid NOT NULL,
    action      text NOT NULL CHECK (action ~ '^[a-z_]+$'),
    field       text CHECK (length(field) BETWEEN 1 AND 80),
    old_value   jsonb,
    new_value   jsonb,
    actor_type  text NOT NULL,
    actor_id    uuid,
    changed_at  timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CHECK (num_nonnulls(lead_id, contact_id) = 1)
);
CREATE INDEX record_history_lead ON record_history (tenant_id, lead_id, changed_at, id)
    WHERE lead_id IS NOT NULL;
CREATE INDEX record_history_contact ON record_history (tenant_id, contact_id, changed_at, id)
    WHERE contact_id IS NOT NULL;
ALTER TABLE record_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_history
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE notes (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    lead_id     uuid,
    contact_id  uuid,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    author_id   uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CHECK (num_nonnulls(lead_id, contact_id) = 1)
);
CREATE INDEX notes_lead ON notes (tenant_id, lead_id, created_at, id) WHERE lead_id IS NOT NULL;
CREATE INDEX notes_contact ON notes (tenant_id, contact_id, created_at, id)
    WHERE contact_id IS NOT NULL;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- A lead's timeline shows the automation runs its events started. The router records a run
-- by event id; the subject (leads/<id>) is copied from the event's outbox row as the run is
-- inserted, so no consumer has to know about timelines.
ALTER TABLE automation_runs ADD COLUMN subject text;
CREATE FUNCTION automation_run_subject() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NEW.subject IS NULL THEN
            SELECT o.aggregate INTO NEW.subject FROM outbox o WHERE o.id = NEW.event_id;
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER automation_runs_subject BEFORE INSERT ON automation_runs
    FOR EACH ROW EXECUTE FUNCTION automation_run_subject();
-- Runs recorded before this migration (FORCE lifted for the copy, as for lead_search).
ALTER TABLE automation_runs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE outbox NO FORCE ROW LEVEL SECURITY;
UPDATE automation_runs r SET subject = o.aggregate
    FROM outbox o WHERE o.id = r.event_id AND r.subject IS NULL;
ALTER TABLE automation_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE INDEX automation_runs_subject ON automation_runs (tenant_id, subject, created_at)
    WHERE subject IS NOT NULL;

-- ------------------------------------------------------------------ imports
-- A CSV import: the file is an object in S3; a worker reads it in batches and counts here.
CREATE TABLE imports (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    entity          text NOT NULL CHECK (entity IN ('lead')),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    object_key      text NOT NULL,
    file_name       text CHECK (length(file_name) <= 255),
    mapping         jsonb NOT NULL,
    dedup_policy    text NOT NULL CHECK (dedup_policy IN ('skip', 'update')),
    owner_id        uuid,
    total_rows      integer CHECK (total_rows >= 0),
    processed_rows  integer NOT NULL DEFAULT 0 CHECK (processed_rows >= 0),
    created_count   integer NOT NULL DEFAULT 0,
    updated_count   integer NOT NULL DEFAULT 0,
    skipped_count   integer NOT NULL DEFAULT 0,
    failed_count    integer NOT NULL DEFAULT 0,
    failure         text,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, id)
);
CREATE INDEX imports_unfinished ON imports (updated_at) WHERE status IN ('queued', 'running');
ALTER TABLE imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON imports
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE import_row_errors (
    tenant_id   uuid NOT NULL,
    import_id   uuid NOT NULL,
    row_number  integer NOT NULL CHECK (row_number >= 1),
    errors      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, import_id, row_number),
    FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE import_row_errors ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_row_errors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON import_row_errors
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ purge
-- Soft-deleted leads and contacts are restorable for 30 days, then deleted for good (their
-- history and notes cascade). The purge runs per tenant as crm_app; to know which tenants have
-- something to purge it asks, as crm_relay (the cross-tenant housekeeping role), these
-- policies, which show it expired rows only, and only their tenant and deletion time.
CREATE POLICY relay_sees_expired_deletions ON leads FOR SELECT TO crm_relay
    USING (deleted_at < now() - interval '30 days');
CREATE POLICY relay_sees_expired_deletions ON contacts FOR SELECT TO crm_relay
    USING (deleted_at < now() - interval '30 days');
CREATE POLICY relay_sees_unfinished_imports ON imports FOR SELECT TO crm_relay
    USING (status IN ('queued', 'running'));

-- ------------------------------------------------------------------ grants
-- History is append-only for the app except GDPR erasure, which rewrites values in place.
-- UPDATE: deleting a tag or category locks its row first (SELECT ... FOR UPDATE)
GRANT SELECT, INSERT, UPDATE, DELETE ON tags, categories TO crm_app;
GRANT SELECT, INSERT, UPDATE ON custom_fields TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON contacts TO crm_app;
GRANT SELECT, INSERT, UPDATE ON record_history, notes TO crm_app;
GRANT SELECT, INSERT, UPDATE ON imports TO crm_app;
GRANT SELECT, INSERT ON import_row_errors TO crm_app;
GRANT SELECT (tenant_id, deleted_at) ON leads, contacts TO crm_relay;
GRANT SELECT (tenant_id, id, status, updated_at) ON imports TO crm_relay;
GRANT EXECUTE ON FUNCTION crm_unaccent(text), crm_search_text(text[]), crm_phone_digits(text),
    crm_contains_words(text, text[]),
    crm_search_records(text, text[], text[], jsonb, integer)
    TO crm_app;
