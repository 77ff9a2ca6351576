"""The layer does not ship boto3/botocore: the python3.12 Lambda runtime's copy is used. This
pins what the code relies on from it: the API version of each AWS service it calls and the
operations it calls there, so a runtime (or a venv) whose botocore models differ fails here
rather than in production. The operations are found in the code (tests/aws_calls.py), so a new
call to a new operation must be added to the table below to pass."""

from __future__ import annotations

import botocore
import botocore.session
from packaging.version import Version

from tests.aws_calls import operations_called_in_code

# service -> (API version, operations the code calls). The python3.12 runtime has carried
# boto3 >= 1.34 since its launch; all of these exist there.
RELIED_ON = {
    "apigatewaymanagementapi": ("2018-11-29", {"PostToConnection"}),
    "lambda": ("2015-03-31", {"Invoke"}),
    "s3": (
        "2006-03-01",
        {
            "DeleteObject",
            "DeleteObjects",
            "GetObject",
            "HeadObject",
            "ListObjectsV2",
            "PutObject",
        },
    ),
    "secretsmanager": ("2017-10-17", {"GetSecretValue", "PutSecretValue"}),
    "sesv2": ("2019-09-27", {"SendEmail"}),
    "sns": ("2010-03-31", {"Publish"}),
    "stepfunctions": (
        "2016-11-23",
        {
            "CreateStateMachine",
            "DescribeExecution",
            "DescribeStateMachine",
            "GetExecutionHistory",
            "ListStateMachines",
            "StartExecution",
            "StopExecution",
        },
    ),
}

# The oldest botocore the python3.12 runtime has shipped (2023-12); the venv must not be older.
MINIMUM_BOTOCORE = Version("1.34.0")


def test_venv_botocore_is_not_older_than_the_runtime_s() -> None:
    assert Version(botocore.__version__) >= MINIMUM_BOTOCORE


def test_every_service_the_code_calls_has_the_api_version_and_operations_relied_on() -> None:
    session = botocore.session.get_session()
    for service, (api_version, operations) in RELIED_ON.items():
        model = session.get_service_model(service)
        assert model.api_version == api_version, service
        missing = operations - set(model.operation_names)
        assert not missing, f"{service} has no {sorted(missing)}"


def test_the_table_covers_every_operation_the_code_calls() -> None:
    called = operations_called_in_code()
    assert called, "the scanner found no AWS call at all"
    for service, operations in called.items():
        assert service in RELIED_ON, f"{service} is called but not pinned here"
        assert operations <= RELIED_ON[service][1], (
            f"{service}: {sorted(operations - RELIED_ON[service][1])} called but not pinned here"
        )
