"""The access-token signing key set (JwtSigningKeySecret): written on the first deploy (a
CloudFormation custom resource, JwtKeySet) so that users can log in as soon as the stack is
up, and rotated on a schedule (EventBridge Scheduler). A rotation keeps the previous keys in
the set (and so in the JWKS) for longer than the tokens they signed live."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.cloudformation import respond
from crm.observability import logger
from crm.settings import JwtKeysSettings

settings = JwtKeysSettings.from_env()
PHYSICAL_ID = "crm-jwt-key-set"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store = bootstrap.jwt_key_set_store(settings.jwt_signing_secret_arn)
    if "RequestType" not in event:  # the rotation schedule
        kid = store.rotate()
        logger.info("signing key rotated", extra={"active_kid": kid})
        return {"active_kid": kid}
    if event["RequestType"] == "Delete":
        # the secret itself is retained (DeletionPolicy): tokens of a re-created stack go on
        return respond(event, "SUCCESS", "key set kept", PHYSICAL_ID)
    try:
        kid, created = store.ensure()
    except Exception as error:  # CloudFormation must hear back, or the stack hangs
        logger.exception("writing the key set failed")
        return respond(event, "FAILED", f"{type(error).__name__}: {error}", PHYSICAL_ID)
    logger.info("signing key set ready", extra={"active_kid": kid, "newly_written": created})
    return respond(
        event, "SUCCESS", "created" if created else "kept", PHYSICAL_ID, {"ActiveKid": kid}
    )
