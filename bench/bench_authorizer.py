"""The Lambda authorizer's cost per request vs a bare JWT decode, same run.

Measured in-process against the real database (the app role, RLS on):
  bare decode   jwt.decode of an EdDSA token with its public key (signature + exp/aud/iss)
  verify        TokenService.verify_claims: kid lookup, pinned algorithms, required claims
  authorizer    the authorizer's whole decision for an access token: verify + the user's
                state in the database (BEGIN, set_config tenant, one SELECT, ROLLBACK) + policy
  api key       the decision for an API key: digest check + key/creator lookup + COMMIT
API Gateway caches the decision per credential (ReauthorizeEvery 300 s), so a client pays the
authorizer once per 5 minutes per token, and the bare decode on no request at all.

Run: .venv/bin/python bench/bench_authorizer.py [N]   (starts the test servers if needed)
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

import jwt  # noqa: E402
from crm.adapters.passwords import Argon2PasswordHasher  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.adapters.secrets.jwt_keys import SigningKeySet, new_keyset_json  # noqa: E402
from crm.domain.audit import RequestMeta  # noqa: E402
from crm.domain.tenants import Principal  # noqa: E402
from crm.services.accounts import SignUp, sign_up  # noqa: E402
from crm.services.api_keys import create_api_key  # noqa: E402
from crm.services.authorization import RequestAuthorizer, authorize_event  # noqa: E402
from crm.services.tokens import TokenService  # noqa: E402

from bench.smoke import scaled  # noqa: E402
from local.services import ensure_test_services  # noqa: E402

ARN = "arn:aws:execute-api:us-east-1:123456789012:api/dev/GET/leads"


class StaticKeys:
    def __init__(self, keys: SigningKeySet) -> None:
        self._keys = keys

    def keys(self, wanted_kid: str | None = None) -> SigningKeySet:
        return self._keys


def timed(n: int, call: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


def main(n: int) -> None:
    endpoints = ensure_test_services(ROOT)
    migrated = run_migrations(endpoints.admin_database_url)
    pool = ConnectionPool(migrated.app_url, size=2)
    db = PostgresDatabase(pool)
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8192, parallelism=1)
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    tenant, owner = sign_up(
        SignUp("Bench", slug, f"owner@{slug}.example.com", "bench-password-123", "Bench"),
        unit_of_work=db.unit_of_work,
        hasher=hasher,
    )
    keys = SigningKeySet.from_json(new_keyset_json())
    tokens = TokenService(StaticKeys(keys), issuer="https://crm.bench", audience="crm-api")
    token = tokens.issue_for(tenant.id, owner.id, "owner")["access_token"]
    api_key = create_api_key(
        Principal(tenant_id=tenant.id, user_id=owner.id, role="owner"), "bench", ["leads:read"],
        None, unit_of_work=db.unit_of_work, meta=RequestMeta(),
    )["secret"]  # fmt: skip
    authorizer = RequestAuthorizer(tokens=tokens, unit_of_work=db.unit_of_work)
    public_key = keys.public_keys[keys.active_kid]
    token_event = {
        "type": "REQUEST",
        "methodArn": ARN,
        "headers": {"Authorization": f"Bearer {token}"},
    }
    key_event = {
        "type": "REQUEST",
        "methodArn": ARN,
        "headers": {"Authorization": f"Bearer {api_key}"},
    }

    def bare() -> object:
        return jwt.decode(
            token, public_key, algorithms=["EdDSA"], audience="crm-api", issuer="https://crm.bench"
        )

    cases: dict[str, Callable[[], object]] = {
        "bare decode": bare,
        "verify": lambda: tokens.verify_claims(token),
        "authorizer (token)": lambda: authorize_event(token_event, authorizer),
        "authorizer (API key)": lambda: authorize_event(key_event, authorizer),
    }
    for call in cases.values():  # warm: imports, pool, plans
        timed(50, call)
    # Each case once per round, in turn: a load spike on the (shared, 2-core) machine hits
    # every case alike instead of one of them.
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(n):
        for name, call in cases.items():
            samples[name].extend(timed(1, call))
    results = {name: summary(values) for name, values in samples.items()}
    pool.close()
    base_p50, base_p99 = results["bare decode"]
    for name, (p50, p99) in results.items():
        print(
            f"{name:<22} x{n}: p50 {p50:7.3f} ms  p99 {p99:7.3f} ms"
            f"   ratio to bare decode: p50 {p50 / base_p50:6.1f}x  p99 {p99 / base_p99:6.1f}x"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(2000, smoke=5))
