-- Revocation takes effect on the next request, not when the gateway's cached authorizer
-- decision expires (up to 300 s): the API gate's one round trip per request also checks the
-- credential itself, next to the caller's current role and status.
--   * an API key: it still exists, is not revoked and has not expired;
--   * an access token: it was not issued before the user's tokens_valid_after (a password
--     reset, a completed reset or a "sign out everywhere" moves it).
-- p_issued_at is the token's iat (epoch seconds; tokens_valid_after is truncated to the
-- second for the same reason); NULL for an API key or an authorizer context without it.
--
-- An overload built on the two-argument admit_api_request of 0004 (tenant guard, rate-limit
-- window, role), which stays: code deployed before this migration keeps calling it.
CREATE FUNCTION admit_api_request(p_tenant uuid, p_user uuid, p_api_key uuid, p_issued_at bigint)
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
               CASE
                   WHEN p_api_key IS NOT NULL THEN NOT EXISTS (
                       SELECT 1 FROM api_keys k
                        WHERE k.id = p_api_key AND k.created_by = p_user
                          AND k.revoked_at IS NULL
                          AND (k.expires_at IS NULL OR k.expires_at > clock_timestamp()))
                   WHEN p_issued_at IS NOT NULL THEN coalesce(
                       (SELECT to_timestamp(p_issued_at) < u.tokens_valid_after
                          FROM users u WHERE u.id = p_user),
                       false)
                   ELSE false
               END
        FROM admit_api_request(p_tenant, p_user) AS a;
    END
    $$;

GRANT EXECUTE ON FUNCTION admit_api_request(uuid, uuid, uuid, bigint) TO crm_app;
