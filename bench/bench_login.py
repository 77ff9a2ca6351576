"""Login latency with the production argon2id parameters, vs the hash check alone, same run.

Parameters (crm.adapters.passwords.Argon2PasswordHasher defaults, RFC 9106's second
recommended option): argon2id, time_cost t=3, memory m=64 MiB, parallelism p=4, 16-byte salt,
32-byte hash.

  argon2 verify   PasswordHasher.verify of the right password (what a login must spend)
  login service   Authenticator.log_in on the real database: directory lookup, credentials
                  read, argon2 verify, session (refresh-token family) + audit row, JWT signing
  POST /auth/login  the same through the local cloud's gateway and handler (HTTP, validation)

Run: .venv/bin/python bench/bench_login.py [N]   (starts the test servers if needed)
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

from crm.adapters.passwords import Argon2PasswordHasher  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.adapters.secrets.field_cipher import FieldCipher  # noqa: E402
from crm.adapters.secrets.jwt_keys import SigningKeySet, new_keyset_json  # noqa: E402
from crm.services.accounts import SignUp, sign_up  # noqa: E402
from crm.services.authentication import Authenticator  # noqa: E402
from crm.services.tokens import TokenService  # noqa: E402

from bench.smoke import scaled  # noqa: E402
from local.project import project_cloud  # noqa: E402
from local.services import ensure_test_services  # noqa: E402

PASSWORD = "bench-password-123"  # noqa: S105 - a benchmark account


class StaticKeys:
    def __init__(self) -> None:
        self._keys = SigningKeySet.from_json(new_keyset_json())

    def keys(self, wanted_kid: str | None = None) -> SigningKeySet:
        return self._keys


def timed(n: int, call: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def interleaved(n: int, *calls: Callable[[], object]) -> list[list[float]]:
    """Each call once per round, in turn: a load spike on the machine hits all of them alike
    (two cores shared with other work make back-to-back runs drift apart)."""
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(n):
        for call, into in zip(calls, samples, strict=True):
            into.extend(timed(1, call))
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


def report(name: str, samples: list[float], baseline: list[float]) -> None:
    (p50, p99), (base_p50, base_p99) = summary(samples), summary(baseline)
    print(
        f"{name:<17} x{len(samples)}: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
        f" | argon2 verify in the same rounds: p50 {base_p50:6.1f} ms  p99 {base_p99:6.1f} ms"
        f" | ratio p50 {p50 / base_p50:4.2f}x  p99 {p99 / base_p99:4.2f}x"
    )


def main(n: int) -> None:
    endpoints = ensure_test_services(ROOT)
    migrated = run_migrations(endpoints.admin_database_url)
    hasher = Argon2PasswordHasher()  # the production parameters
    pool = ConnectionPool(migrated.app_url, size=2)
    db = PostgresDatabase(pool)
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example.com"
    sign_up(
        SignUp("Bench", slug, email, PASSWORD, "B"), unit_of_work=db.unit_of_work, hasher=hasher
    )
    authenticator = Authenticator(
        unit_of_work=db.unit_of_work, login_directory=db.login_directory, hasher=hasher,
        tokens=TokenService(StaticKeys(), "https://crm.bench", "crm-api"),
        cipher=FieldCipher.from_secret_string("bench" * 10),
    )  # fmt: skip
    stored_hash = hasher.hash(PASSWORD)

    def verify() -> object:
        return hasher.verify(stored_hash, PASSWORD)

    def log_in() -> object:
        return authenticator.log_in(email, PASSWORD)

    timed(3, log_in)  # warm: pool, plans
    verified, service = interleaved(n, verify, log_in)
    pool.close()
    with project_cloud(endpoints, profile="bench") as cloud:
        gateway_slug = f"bench-{uuid.uuid4().hex[:8]}"
        owner = {"email": f"owner@{gateway_slug}.example.com", "password": PASSWORD, "name": "B"}
        signed_up = requests.post(
            f"{cloud.url}/tenants",
            json={"name": "Bench", "slug": gateway_slug, "owner": owner},
            timeout=30,
        )
        assert signed_up.status_code == 201, signed_up.text
        session = requests.Session()
        credentials = {"email": owner["email"], "password": PASSWORD}

        def http_login() -> None:
            response = session.post(f"{cloud.url}/auth/login", json=credentials, timeout=30)
            assert response.status_code == 200, response.text

        timed(5, http_login)  # warm: imports, pools, the key set
        verified_http, http = interleaved(n, verify, http_login)
    print("argon2id t=3 m=64MiB p=4")
    report("login service", service, verified)
    report("POST /auth/login", http, verified_http)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(50, smoke=2))
