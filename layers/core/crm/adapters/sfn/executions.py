"""Reading executions back from Step Functions: DescribeExecution and GetExecutionHistory.

Express executions (ARNs `arn:aws:states:<region>:<account>:express:...`) are not recorded by
Step Functions: both calls refuse them. For those a run is read from the action ledger alone
(crm.domain.run_inspection: an action with a ledger row succeeded), and `describe` answers
None, as for an expired execution. (Embedded moto records Express executions like Standard
ones and answers both calls, so locally both kinds show their full history.)"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from crm.domain.run_inspection import ExecutionInfo, run_status

# The largest page GetExecutionHistory allows: a run of a 100-step workflow with retries fits
# in a page or two.
HISTORY_PAGE_SIZE = 1000


class StepFunctionsExecutions:
    def __init__(self, sfn_client: Any) -> None:
        self._sfn = sfn_client

    def describe(self, execution_arn: str) -> ExecutionInfo | None:
        """None when Step Functions does not know the execution (e.g. expired: Standard
        executions' histories are kept 90 days after they end) or for an Express execution."""
        if is_express(execution_arn):
            return None
        try:
            found = self._sfn.describe_execution(executionArn=execution_arn)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise
        return ExecutionInfo(
            status=run_status(found["status"]),
            started_at=found["startDate"],
            stopped_at=found.get("stopDate"),
            error=found.get("error"),
            cause=found.get("cause"),
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every history event, oldest first, across all pages; [] for an unknown execution
        (or an Express one: it has no history)."""
        if is_express(execution_arn):
            return []
        paginator = self._sfn.get_paginator("get_execution_history")
        events: list[dict[str, Any]] = []
        try:
            for page in paginator.paginate(
                executionArn=execution_arn,
                reverseOrder=False,
                includeExecutionData=False,
                PaginationConfig={"PageSize": HISTORY_PAGE_SIZE},
            ):
                events.extend(page["events"])
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return []
            raise
        return events


def is_express(execution_arn: str) -> bool:
    return ":express:" in execution_arn
