"""Step Functions as the workflow engine: one state machine per automation version, Standard or
Express as the compiler chose (crm.automation.compiler.execution_type)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from crm.observability import logger


class StepFunctionsEngine:
    def __init__(self, sfn_client: Any, role_arn: str) -> None:
        self._sfn = sfn_client
        self._role_arn = role_arn

    def ensure_state_machine(
        self, name: str, definition: dict[str, Any], machine_type: str = "STANDARD"
    ) -> str:
        try:
            created = self._sfn.create_state_machine(
                name=name,
                definition=json.dumps(definition, sort_keys=True),
                roleArn=self._role_arn,
                type=machine_type,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "StateMachineAlreadyExists":
                raise
            return self._existing_arn(name)
        arn: str = created["stateMachineArn"]
        return arn

    def _existing_arn(self, name: str) -> str:
        paginator = self._sfn.get_paginator("list_state_machines")
        for page in paginator.paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == name:
                    arn: str = machine["stateMachineArn"]
                    return arn
        raise LookupError(f"state machine {name} exists but could not be listed")

    def start(self, state_machine_arn: str, execution_name: str, payload: dict[str, Any]) -> str:
        """Start, or find, the one execution with this name: a second start is a no-op."""
        try:
            started = self._sfn.start_execution(
                stateMachineArn=state_machine_arn,
                name=execution_name,
                input=json.dumps(payload, sort_keys=True, default=str),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            logger.info("execution already started", extra={"execution_name": execution_name})
            return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_name}"
        arn: str = started["executionArn"]
        return arn

    def stop(self, execution_arn: str, cause: str) -> bool:
        """Stop a running execution: True when it was running, False when it had ended (or
        Step Functions no longer knows it); an ended execution is left as it is."""
        try:
            status = self._sfn.describe_execution(executionArn=execution_arn)["status"]
            if status != "RUNNING":
                return False
            self._sfn.stop_execution(executionArn=execution_arn, cause=cause[:32768])
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            return False
        return True
