"""The environment variables of the handlers, resolved from the template.

Each function's execution environment (a worker process, see :mod:`local.workers`) gets the
function's own variables (:func:`function_environments`): the template's, Globals merged, with
the infrastructure endpoints replaced, plus the AWS settings pointing at embedded moto and the
``AWS_LAMBDA_FUNCTION_*`` variables Lambda sets. The local cloud's own process also gets every
function's variables merged (:func:`build_environment`), for in-process helpers and tools; a
variable that differs per function keeps one value there (``POWERTOOLS_SERVICE_NAME`` is set to
``crm``).

Intrinsics are resolved the way CloudFormation would, with local values: parameters take
their defaults (``Stage`` is ``local``), ``!GetAtt <Function>.Arn`` and ``!GetAtt <Role>.Arn``
become ARNs in the fake account, ``!Ref <Secret>`` becomes the secret's ARN in embedded moto.
The variables that point at infrastructure (``DATABASE_URL``, ``AMQP_URL``,
``OPENSEARCH_URL``) are replaced by the local endpoints instead of being resolved.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.template import BUCKET_TYPE, FUNCTION_TYPE, ROLE_TYPE, SECRET_TYPE, Template

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
LOCAL_STAGE = "local"
SERVICE_NAME = "crm"

log = logging.getLogger(__name__)

# Settings a function module reads when it is imported, as well-formed placeholders (nothing
# connects to them): for importing every handler without servers (tests/unit/test_template.py,
# scripts/openapi.py, bench/bench_import_time.py).
IMPORT_PLACEHOLDER_ENV = {
    "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/crm",
    "RELAY_DATABASE_URL": "postgresql://r:p@127.0.0.1:1/crm",
    "AMQP_URL": "amqp://g:g@127.0.0.1:1/%2F",
    "OPENSEARCH_URL": "http://127.0.0.1:1",
    "JWT_SIGNING_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt",
    "JWT_ISSUER": "https://crm.test",
    "JWT_AUDIENCE": "crm-api",
    "AUTOMATION_STEP_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:step",
    "STATE_MACHINE_ROLE_ARN": "arn:aws:iam::123456789012:role/sfn",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "MAIL_FROM": "no-reply@crm.local",
    "APP_BASE_URL": "https://app.crm.test",
    "MFA_ENCRYPTION_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:mfa",
    "WEBHOOK_ENCRYPTION_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:wh",
    "IMPORTS_BUCKET": "crm-imports-test",
    "IMPORT_WORKER_FUNCTION": "ImportWorkerFunction",
    "WEBSOCKET_MANAGEMENT_URL": "http://127.0.0.1:1",
}

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class UnresolvableError(ValueError):
    """A template value refers to something that has no local counterpart."""


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical_id}"


def role_arn(logical_id: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{logical_id}"


def bucket_name(logical_id: str, stage: str = LOCAL_STAGE) -> str:
    """The local name of a template bucket (S3 names are lower-case); the local cloud creates
    it in embedded moto at start."""
    return f"{logical_id.lower()}-{stage}"


@dataclass
class IntrinsicResolver:
    """Resolves CloudFormation intrinsics in template values to local strings."""

    template: Template
    secret_arns: Mapping[str, str] = field(default_factory=dict)
    parameter_overrides: Mapping[str, str] = field(default_factory=lambda: {"Stage": LOCAL_STAGE})

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            raise UnresolvableError(f"unexpected template value {value!r}")
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Fn::GetAtt":
                return self.get_att(str(argument[0]), str(argument[1]))
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(str(separator))
            if key.startswith("Fn::"):
                raise UnresolvableError(f"{key} is not supported by the local cloud")
        return {k: self.resolve(v) for k, v in value.items()}

    def ref(self, name: str) -> str:
        if name == "AWS::Region":
            return REGION
        if name == "AWS::AccountId":
            return ACCOUNT_ID
        if name == "AWS::StackName":
            return "crm-local"
        if name == "AWS::Partition":
            return "aws"
        if name in self.parameter_overrides:
            return self.parameter_overrides[name]
        parameter = self.template.parameters.get(name)
        if parameter is not None:
            if parameter.default is None:
                raise UnresolvableError(f"parameter {name} has no default; pass an override")
            return str(parameter.default)
        resource = self.template.resources.get(name)
        if resource is None:
            raise UnresolvableError(f"!Ref {name}: no such parameter or resource")
        if resource.type == SECRET_TYPE:
            if name not in self.secret_arns:
                raise UnresolvableError(f"!Ref {name}: secret not created in moto")
            return self.secret_arns[name]
        if resource.type == FUNCTION_TYPE:
            return name
        if resource.type == BUCKET_TYPE:
            return bucket_name(name, self.parameter_overrides.get("Stage", LOCAL_STAGE))
        raise UnresolvableError(f"!Ref {name} ({resource.type}) has no local value")

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.template.resources.get(name)
        if resource is not None and attribute == "Arn":
            if resource.type == FUNCTION_TYPE:
                return function_arn(name)
            if resource.type == ROLE_TYPE:
                return role_arn(name)
            if resource.type == SECRET_TYPE and name in self.secret_arns:
                return self.secret_arns[name]
            if resource.type == BUCKET_TYPE:
                stage = self.parameter_overrides.get("Stage", LOCAL_STAGE)
                return f"arn:aws:s3:::{bucket_name(name, stage)}"
        raise UnresolvableError(f"!GetAtt {name}.{attribute} has no local value")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        else:
            text, variables = argument[0], dict(argument[1])

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(self.resolve(variables[expression]))
            if "." in expression:
                name, _, attribute = expression.partition(".")
                return self.get_att(name, attribute)
            return self.ref(expression)

        return _SUB_VARIABLE.sub(substitute, text)


def build_environment(
    template: Template,
    *,
    endpoints: Mapping[str, str],
    moto_port: int,
    secret_arns: Mapping[str, str],
    stage: str = LOCAL_STAGE,
) -> dict[str, str]:
    """Every environment variable named in the template, resolved locally, plus AWS settings.

    ``endpoints`` replaces variables that point at infrastructure (``DATABASE_URL``,
    ``AMQP_URL``, ``OPENSEARCH_URL``, ...) instead of resolving them. A variable that has no
    local value and no replacement is left unset, with a warning naming it.
    """
    resolver = IntrinsicResolver(template, secret_arns, {"Stage": stage})
    fixed = {**endpoints, "POWERTOOLS_SERVICE_NAME": SERVICE_NAME}
    environment: dict[str, str] = {}
    chosen_by: dict[str, str] = {}
    for function in template.functions.values():
        for name, raw in function.environment.items():
            if name in fixed:
                continue
            try:
                value = str(resolver.resolve(raw))
            except UnresolvableError as error:
                if name not in chosen_by:
                    log.warning("%s is left unset locally: %s", name, error)
                    chosen_by[name] = function.logical_id
                continue
            if name in environment and environment[name] != value:
                log.warning(
                    "%s differs between %s and %s; locally every handler sees %s's value",
                    name,
                    chosen_by[name],
                    function.logical_id,
                    chosen_by[name],
                )
                continue
            environment.setdefault(name, value)
            chosen_by.setdefault(name, function.logical_id)
    environment.update(fixed)
    environment.update(aws_environment(moto_port))
    return environment


def function_environments(
    template: Template,
    *,
    endpoints: Mapping[str, str],
    moto_port: int,
    secret_arns: Mapping[str, str],
    stage: str = LOCAL_STAGE,
) -> dict[str, dict[str, str]]:
    """Each function's own environment variables, by logical id, as its Lambda execution
    environment has them: its template variables (Globals merged) resolved locally, with
    ``endpoints`` replacing those that point at infrastructure (and added to every function,
    as local settings), AWS settings for embedded moto, and what Lambda itself sets.
    A variable with no local value and no replacement is left unset (build_environment warns).
    """
    resolver = IntrinsicResolver(template, secret_arns, {"Stage": stage})
    aws = aws_environment(moto_port)
    environments: dict[str, dict[str, str]] = {}
    for function in template.functions.values():
        environment: dict[str, str] = {}
        for name, raw in function.environment.items():
            if name in endpoints:
                continue
            try:
                environment[name] = str(resolver.resolve(raw))
            except UnresolvableError:
                continue
        environment.update(endpoints)
        environment.update(aws)
        environment.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.logical_id}",
                "LANG": "C.UTF-8",
                "TZ": ":UTC",
                "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            }
        )
        environments[function.logical_id] = environment
    return environments


def aws_environment(moto_port: int) -> dict[str, str]:
    """Points boto3 (and the Step Functions interpreter) at embedded moto."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "MOTO_PORT": str(moto_port),
    }


_REAL_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


def apply_environment(environment: Mapping[str, str]) -> None:
    """Sets the handlers' environment into this process, before any handler is imported.

    A developer's real AWS profile or session token is dropped so that no boto3 client in the
    process can reach real AWS with it.
    """
    for name in _REAL_AWS_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(environment)
