"""API Gateway's Lambda authorizers, shared by the REST API (local/gateway.py) and the
WebSocket API's ``$connect`` route (local/websocket.py): the method ARN and the IAM policy
check, the authorizer output as API Gateway validates it, its result cache, and invoking one
with API Gateway's answers to its failures (401 ``Unauthorized``, 500 on a malformed output or
an error)."""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local.environment import ACCOUNT_ID, REGION
from local.http_api import GatewayResponse, Invoke
from local.template import Authorizer

log = logging.getLogger(__name__)

LOCAL_API_ID = "local"


def method_arn(stage: str, method: str, path: str, api_id: str = LOCAL_API_ID) -> str:
    """``arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>``."""
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api_id}/{stage}/{method.upper()}{path}"


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    translated = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(f"^{translated}$", flags)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def policy_allows(policy_document: Mapping[str, Any], arn: str) -> bool:
    """True when an ``execute-api:Invoke`` statement allows ``arn`` and none denies it."""
    allowed = False
    for statement in _as_list(policy_document.get("Statement")):
        actions = _as_list(statement.get("Action"))
        if not any(
            _wildcard(str(a), ignore_case=True).match("execute-api:Invoke") for a in actions
        ):
            continue
        if not any(_wildcard(str(r)).match(arn) for r in _as_list(statement.get("Resource"))):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return False
        allowed = allowed or effect == "allow"
    return allowed


@dataclass(frozen=True)
class AuthorizerOutput:
    principal_id: str
    policy_document: Mapping[str, Any]
    context: dict[str, str]


class AuthorizerConfigurationError(ValueError):
    """The authorizer answered something API Gateway rejects (500 AuthorizerConfiguration)."""


def parse_authorizer_output(output: Any) -> AuthorizerOutput:
    if not isinstance(output, dict) or "principalId" not in output:
        raise AuthorizerConfigurationError("authorizer output has no principalId")
    policy = output.get("policyDocument")
    if not isinstance(policy, dict):
        raise AuthorizerConfigurationError("authorizer output has no policyDocument")
    context: dict[str, str] = {}
    for key, value in (output.get("context") or {}).items():
        if isinstance(value, bool):
            context[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            context[key] = str(value)
        elif value is not None:
            raise AuthorizerConfigurationError(f"context.{key} is not a string, number or bool")
    return AuthorizerOutput(str(output["principalId"]), policy, context)


class AuthorizerCache:
    """API Gateway's authorizer result cache: per authorizer and identity, ReauthorizeEvery s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, AuthorizerOutput]] = {}
        self._lock = threading.Lock()

    def get(self, authorizer: Authorizer, identity: tuple[str, ...]) -> AuthorizerOutput | None:
        with self._lock:
            entry = self._entries.get((authorizer.name, identity))
            if entry is None or entry[0] <= self._clock():
                return None
            return entry[1]

    def put(
        self, authorizer: Authorizer, identity: tuple[str, ...], output: AuthorizerOutput
    ) -> None:
        if authorizer.reauthorize_every <= 0:
            return
        with self._lock:
            expires = self._clock() + authorizer.reauthorize_every
            self._entries[(authorizer.name, identity)] = (expires, output)


def run_authorizer(
    invoke: Invoke, function_id: str, event: dict[str, Any], name: str
) -> AuthorizerOutput | GatewayResponse:
    """Invokes an authorizer; API Gateway's answer when it fails: ``Unauthorized`` raised is
    401, a malformed output or any other error is 500 (AuthorizerConfigurationException)."""
    try:
        return parse_authorizer_output(invoke(function_id, event))
    except AuthorizerConfigurationError as error:
        log.error("authorizer %s: %s", name, error)
        return GatewayResponse.message(500, None, "AuthorizerConfigurationException")
    except Exception as error:
        if str(error) == "Unauthorized":
            return GatewayResponse.message(401, "Unauthorized", "UnauthorizedException")
        log.error("authorizer %s raised:\n%s", name, traceback.format_exc())
        return GatewayResponse.message(500, None, "AuthorizerConfigurationException")
