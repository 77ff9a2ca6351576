"""The tracer the functions decorate their handlers and routes with, created once.

Lambda's active tracing (template.yaml: Tracing: Active) records every invocation, its init
and its duration without any SDK in the function. The Powertools Tracer adds subsegments per
decorated method, but it needs the X-Ray SDK, which costs ~0.5 s of cold import (it patches
botocore, requests, ...); the layer does not ship it. So `tracer` is the Powertools Tracer
only when the SDK is installed and tracing is not disabled (POWERTOOLS_TRACE_DISABLED), and
otherwise a no-op with the same decorators: a function's cold path then holds neither the
SDK nor boto3 (tests/unit/test_cold_imports.py). Add the SDK in a layer of its own to get the
subsegments back.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class NoOpTracer:
    """Powertools Tracer's decorators, doing nothing."""

    def capture_lambda_handler(self, handler: F | None = None, **_: Any) -> Any:
        if handler is None:
            return lambda f: f
        return handler

    def capture_method(self, method: F | None = None, **_: Any) -> Any:
        if method is None:
            return lambda f: f
        return method

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        return None


def _enabled() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in ("1", "true")
    return not disabled and importlib.util.find_spec("aws_xray_sdk") is not None


def _tracer() -> Any:
    if _enabled():
        from aws_lambda_powertools import Tracer

        return Tracer()
    return NoOpTracer()


tracer: Any = _tracer()
