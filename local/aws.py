"""Embedded moto: the AWS control planes, in this process, with Lambda routed to our handlers.

moto runs as a threaded HTTP server on 127.0.0.1 so that boto3 in the handlers reaches it
through ``AWS_ENDPOINT_URL`` exactly as it would reach AWS. Step Functions executes state
machines for real (``execute_state_machine``); its interpreter calls Lambda over HTTP at
``http://localhost:$MOTO_PORT``, which lands in moto's no-Docker Lambda backend, whose
``invoke`` is replaced here by a dispatch to the function registry. The functions do not have
to exist in moto's Lambda backend for that: ``invoke`` is reached by name or ARN directly.

Secrets of the template are created in moto at start. Generated values are kept in a JSON
file under the profile directory so a restart keeps the same passwords and signing keys.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.server import ThreadedMotoServer

from local.environment import REGION, IntrinsicResolver, bucket_name
from local.template import Resource, Template

log = logging.getLogger(__name__)

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
DEFAULT_SENDERS = ("no-reply@crm.local",)

InvokeFunction = Callable[[str, Any], Any]
"""(function name or ARN, event) -> result; raises LookupError for an unknown function."""

SecretSeeder = Callable[[], str]


class EmbeddedMoto:
    """A moto server thread whose Lambda invocations run ``invoke`` in-process.

    moto keeps its state in module-level backends and the Lambda seam is a class attribute, so
    one process runs one embedded moto at a time; ``start`` resets moto's state.
    """

    def __init__(self, invoke: InvokeFunction, port: int = 0) -> None:
        self._invoke = invoke
        self._requested_port = port
        self._server: ThreadedMotoServer | None = None
        self._original_invoke: Any = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if self._requested_port:
            # ThreadedMotoServer waits forever when its port is taken: fail fast instead.
            _check_port_free(self._requested_port)
        server = ThreadedMotoServer(
            ip_address="127.0.0.1", port=self._requested_port, verbose=False
        )
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        # The Step Functions interpreter reads MOTO_PORT on every call to another service.
        os.environ["MOTO_PORT"] = str(self.port)
        # moto's backends are process-wide: a new local cloud starts from an empty AWS.
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        response = requests.post(f"{self.url}/moto-api/config", json=MOTO_CONFIG, timeout=10)
        response.raise_for_status()
        self._route_lambda_invocations()
        log.info("moto listening on %s", self.url)

    def stop(self) -> None:
        if self._original_invoke is not None:
            LambdaSimpleBackend.invoke = self._original_invoke  # type: ignore[method-assign]
            self._original_invoke = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        )

    def _route_lambda_invocations(self) -> None:
        invoke = self._invoke
        self._original_invoke = LambdaSimpleBackend.invoke

        def routed_invoke(
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> bytes:
            return dispatch_invocation(invoke, function_name, body, headers, response_headers)

        LambdaSimpleBackend.invoke = routed_invoke  # type: ignore[assignment,method-assign]


def _check_port_free(port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise OSError(error.errno, f"moto port {port} is in use") from error


def dispatch_invocation(
    invoke: InvokeFunction,
    function_name: str,
    body: Any,
    headers: Mapping[str, str],
    response_headers: dict[str, str],
) -> bytes:
    """Runs one Lambda Invoke API call against the registry, shaped like Lambda's answer."""
    raw = body.decode() if isinstance(body, bytes) else (body or "")
    event = json.loads(raw) if raw.strip() else {}
    invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        threading.Thread(
            target=_invoke_logging_errors,
            args=(invoke, function_name, event),
            name=f"lambda-event-{function_name}",
            daemon=True,
        ).start()
        return b""
    try:
        result = invoke(function_name, event)
    except LookupError as error:
        raise UnknownFunctionException(function_name) from error
    except Exception as error:
        log.exception("%s raised", function_name)
        response_headers["x-amz-function-error"] = "Unhandled"
        return _error_payload(getattr(error, "error_type", type(error).__name__), error)
    try:
        return json.dumps(result).encode()
    except (TypeError, ValueError) as error:
        response_headers["x-amz-function-error"] = "Unhandled"
        return _error_payload("Runtime.MarshalError", error)


def _error_payload(error_type: str, error: BaseException) -> bytes:
    stack = getattr(error, "stack_trace", None) or traceback.format_exception(error)
    payload = {"errorType": error_type, "errorMessage": str(error), "stackTrace": stack}
    return json.dumps(payload).encode()


def _invoke_logging_errors(invoke: InvokeFunction, function_name: str, event: Any) -> None:
    try:
        invoke(function_name, event)
    except Exception:
        log.exception("asynchronous invocation of %s failed", function_name)


# ------------------------------------------------------------------ secrets


class SecretStore:
    """Secret values of one profile, kept across restarts in a JSON file (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return dict(json.loads(self.path.read_text(encoding="utf-8")))

    def save(self, values: Mapping[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.touch(mode=0o600)
        temporary.write_text(json.dumps(dict(values), indent=2, sort_keys=True), encoding="utf-8")
        temporary.replace(self.path)


def create_template_secrets(
    moto: EmbeddedMoto,
    template: Template,
    store: SecretStore,
    seeders: Mapping[str, SecretSeeder],
) -> dict[str, str]:
    """Creates every ``AWS::SecretsManager::Secret`` in moto (name = logical id).

    A value is taken from the store if it has one, else from the seeder for that logical id,
    else generated from ``GenerateSecretString`` (or the literal ``SecretString``). New values
    are saved to the store. Returns {logical id: secret ARN}.
    """
    secretsmanager = moto.client("secretsmanager")
    values = store.load()
    changed = False
    arns: dict[str, str] = {}
    for logical_id, resource in template.secrets.items():
        if logical_id not in values:
            values[logical_id] = _initial_secret_value(
                secretsmanager, template, resource, seeders.get(logical_id)
            )
            changed = True
        description = str(resource.properties.get("Description", "")).strip()
        try:
            created = secretsmanager.create_secret(
                Name=logical_id, SecretString=values[logical_id], Description=description
            )
        except secretsmanager.exceptions.ResourceExistsException:
            created = secretsmanager.put_secret_value(
                SecretId=logical_id, SecretString=values[logical_id]
            )
        arns[logical_id] = created["ARN"]
    if changed:
        store.save(values)
    return arns


def _initial_secret_value(
    secretsmanager: Any, template: Template, resource: Resource, seeder: SecretSeeder | None
) -> str:
    if seeder is not None:
        return seeder()
    props = resource.properties
    if "SecretString" in props:
        return str(IntrinsicResolver(template).resolve(props["SecretString"]))
    spec = props.get("GenerateSecretString") or {}
    password = secretsmanager.get_random_password(
        PasswordLength=int(spec.get("PasswordLength", 32)),
        ExcludeCharacters=str(spec.get("ExcludeCharacters", "")),
        ExcludeNumbers=bool(spec.get("ExcludeNumbers", False)),
        ExcludePunctuation=bool(spec.get("ExcludePunctuation", False)),
        ExcludeUppercase=bool(spec.get("ExcludeUppercase", False)),
        ExcludeLowercase=bool(spec.get("ExcludeLowercase", False)),
        IncludeSpace=bool(spec.get("IncludeSpace", False)),
        RequireEachIncludedType=bool(spec.get("RequireEachIncludedType", True)),
    )["RandomPassword"]
    template_json = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template_json is None or key is None:
        return str(password)
    document = json.loads(template_json)
    document[key] = password
    return json.dumps(document)


def create_template_buckets(moto: EmbeddedMoto, template: Template, stage: str) -> list[str]:
    """Creates every ``AWS::S3::Bucket`` of the template in moto (see bucket_name)."""
    s3 = moto.client("s3")
    names = [bucket_name(logical_id, stage) for logical_id in template.buckets]
    for name in names:
        s3.create_bucket(Bucket=name)
    return names


def verify_senders(moto: EmbeddedMoto, addresses: tuple[str, ...] = DEFAULT_SENDERS) -> None:
    """Verifies SES identities so that mail from them is accepted (SES v1 and v2 share them)."""
    ses = moto.client("ses")
    for address in addresses:
        ses.verify_email_identity(EmailAddress=address)
