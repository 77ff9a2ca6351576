"""The migration runner on a fresh database: applies every file once, refuses edited ones."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from crm.adapters.postgres.connection import connect, with_credentials
from crm.adapters.postgres.migrations import DEFAULT_MIGRATIONS_DIR, run_migrations

from local.services import Endpoints

pytestmark = pytest.mark.integration


@pytest.fixture()
def fresh_database(endpoints: Endpoints):  # type: ignore[no-untyped-def]
    name = f"crm_migrations_{uuid.uuid4().hex[:8]}"
    admin = connect(endpoints.admin_database_url)
    admin.run(f"CREATE DATABASE {name}")
    url = endpoints.admin_database_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    admin.run(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


def test_each_migration_applies_once(fresh_database: str) -> None:
    first = run_migrations(fresh_database)
    second = run_migrations(fresh_database)
    assert first.applied == sorted(p.name for p in DEFAULT_MIGRATIONS_DIR.glob("*.sql"))
    assert second.applied == []
    app = connect(first.app_url)
    try:
        assert app.run("SELECT current_user") == [["crm_app"]]
    finally:
        app.close()
    assert with_credentials(fresh_database, "crm_app", "crm_app") == first.app_url


def test_an_edited_migration_is_refused(fresh_database: str, tmp_path: Path) -> None:
    copied = tmp_path / "migrations"
    shutil.copytree(DEFAULT_MIGRATIONS_DIR, copied)
    run_migrations(fresh_database, migrations_dir=copied)
    first = sorted(copied.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        run_migrations(fresh_database, migrations_dir=copied)
