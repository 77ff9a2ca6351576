-- Access tokens now name their session (`sid`: the refresh-token family of the login). The API
-- gate's per-request admission also refuses a token whose session was revoked (logout, refresh
-- token reuse, password reset, deactivation), so those end the session's access tokens on the
-- next request rather than when they expire (15 minutes). A session that no longer exists
-- counts as revoked. p_session is NULL for an API key or a token without `sid`.
CREATE FUNCTION admit_api_request(
    p_tenant uuid, p_user uuid, p_api_key uuid, p_issued_at bigint, p_session uuid
)
    RETURNS TABLE (
        request_count       integer,
        request_limit       bigint,
        window_start        timestamptz,
        reset_seconds       integer,
        user_role           text,
        user_status         text,
        permissions         text[],
        own_records_only    boolean,
        credential_revoked  boolean
    )
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
    #variable_conflict use_column
    BEGIN
        RETURN QUERY
        SELECT a.request_count, a.request_limit, a.window_start, a.reset_seconds,
               a.user_role, a.user_status, a.permissions, a.own_records_only,
               a.credential_revoked OR (p_session IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM refresh_token_families f
                    WHERE f.id = p_session AND f.user_id = p_user AND f.revoked_at IS NULL))
        FROM admit_api_request(p_tenant, p_user, p_api_key, p_issued_at) AS a;
    END
    $$;

GRANT EXECUTE ON FUNCTION admit_api_request(uuid, uuid, uuid, bigint, uuid) TO crm_app;
