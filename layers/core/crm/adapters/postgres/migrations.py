"""Applies infra/db/migrations/*.sql in order, each once, under an advisory lock.

Runs with an owner/superuser URL. Before the files it makes sure the login roles the code
connects as exist (crm_app for the functions, crm_relay for the outbox relay); they own no
table, so row-level security always applies to them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pg8000.native

from crm.adapters.postgres.connection import connect, with_credentials

DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parents[5] / "infra" / "db" / "migrations"
MIGRATION_LOCK_ID = 7_420_001
APP_ROLE = "crm_app"
RELAY_ROLE = "crm_relay"


@dataclass(frozen=True)
class MigrationResult:
    applied: list[str]
    app_url: str
    relay_url: str


def migrate(
    admin_url: str,
    *,
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR,
    role_passwords: dict[str, str] | None = None,
) -> str:
    """Migrate and return the app role's URL (what the functions use as DATABASE_URL)."""
    return run_migrations(
        admin_url, migrations_dir=migrations_dir, role_passwords=role_passwords
    ).app_url


def run_migrations(
    admin_url: str,
    *,
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR,
    role_passwords: dict[str, str] | None = None,
) -> MigrationResult:
    # Locally each role's password is its name; in AWS they come from Secrets Manager.
    passwords = role_passwords or {APP_ROLE: APP_ROLE, RELAY_ROLE: RELAY_ROLE}
    files = sorted(migrations_dir.glob("*.sql"))
    if not files:
        raise FileNotFoundError(f"no migrations in {migrations_dir}")
    conn = connect(admin_url)
    try:
        conn.run("SELECT pg_advisory_lock(:id)", id=MIGRATION_LOCK_ID)
        try:
            for role, password in passwords.items():
                _ensure_login_role(conn, role, password)
            applied = _apply_pending(conn, files)
        finally:
            conn.run("SELECT pg_advisory_unlock(:id)", id=MIGRATION_LOCK_ID)
    finally:
        conn.close()
    return MigrationResult(
        applied=applied,
        app_url=with_credentials(admin_url, APP_ROLE, passwords[APP_ROLE]),
        relay_url=with_credentials(admin_url, RELAY_ROLE, passwords[RELAY_ROLE]),
    )


def _ensure_login_role(conn: pg8000.native.Connection, role: str, password: str) -> None:
    exists = conn.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=role)
    verb = "ALTER" if exists else "CREATE"
    # Role names are constants of this module; the password is a literal, quoted by Postgres.
    quoted = conn.run("SELECT quote_literal(:p)", p=password)[0][0]
    attributes = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
    conn.run(f"{verb} ROLE {role} {attributes} PASSWORD {quoted}")


def _apply_pending(conn: pg8000.native.Connection, files: list[Path]) -> list[str]:
    conn.run(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name text PRIMARY KEY, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {
        name: checksum
        for name, checksum in conn.run("SELECT name, checksum FROM schema_migrations")
    }
    applied: list[str] = []
    for path in files:
        sql = path.read_text()
        checksum = hashlib.sha256(sql.encode()).hexdigest()
        if path.name in done:
            if done[path.name] != checksum:
                raise RuntimeError(
                    f"migration {path.name} changed after it was applied; add a new one instead"
                )
            continue
        conn.run("BEGIN")
        try:
            conn.execute_simple(sql)
            conn.run(
                "INSERT INTO schema_migrations (name, checksum) VALUES (:n, :c)",
                n=path.name,
                c=checksum,
            )
            conn.run("COMMIT")
        except Exception:
            conn.run("ROLLBACK")
            raise
        applied.append(path.name)
    return applied
