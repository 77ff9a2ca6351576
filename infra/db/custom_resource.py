"""CloudFormation custom resource (DatabaseMigrations in template.yaml): applies migrations/,
which ships next to this file, with the owner's credentials, under the migration runner's
advisory lock (so two deploys never migrate at once), and sets the passwords of the login
roles the functions use (crm_app, crm_relay) from their secrets. It runs on create and on every
update that publishes a new version of this function (its code or a migration changed);
applying is idempotent. Delete leaves the database alone (it is retained)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.cloudformation import respond
from crm.adapters.postgres.connection import with_credentials
from crm.adapters.postgres.migrations import APP_ROLE, RELAY_ROLE, run_migrations
from crm.observability import logger
from crm.settings import MigrationsSettings

MIGRATIONS = Path(__file__).with_name("migrations")
PHYSICAL_ID = "crm-database-migrations"


def migrate(settings: MigrationsSettings) -> list[str]:
    secrets = bootstrap.secret_values()
    owner = secrets.json(settings.database_owner_secret_arn)
    passwords = {
        APP_ROLE: secrets.json(settings.database_app_secret_arn)["password"],
        RELAY_ROLE: secrets.json(settings.database_relay_secret_arn)["password"],
    }
    result = run_migrations(
        with_credentials(settings.database_url, owner["username"], owner["password"]),
        migrations_dir=MIGRATIONS,
        role_passwords=passwords,
    )
    return result.applied


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event["RequestType"] == "Delete":
        return respond(event, "SUCCESS", "the database is retained", PHYSICAL_ID)
    try:
        applied = migrate(MigrationsSettings.from_env())
    except Exception as error:  # CloudFormation must hear back, or the stack hangs
        logger.exception("migrating failed")
        return respond(event, "FAILED", f"{type(error).__name__}: {error}", PHYSICAL_ID)
    logger.info("migrations applied", extra={"applied": applied})
    reason = f"applied {len(applied)}: {', '.join(applied)}" if applied else "up to date"
    return respond(event, "SUCCESS", reason, PHYSICAL_ID, {"Applied": len(applied)})
