"""Loads the template's handlers in-process (the local cloud itself runs them in worker
processes, :mod:`local.workers`; this in-process registry serves tools and tests that want the
handlers in their own process, and defines the context object both use).

Each function gets a small pool of "execution environments": separately imported copies of its
handler module (``lambda_<LogicalId>`` for the first, ``lambda_<LogicalId>__<n>`` for the
others). An environment serves one invocation at a time, as a Lambda container does, so module
state such as a Powertools resolver's ``current_event`` is never shared by two concurrent
invocations. A new environment is imported (a cold start) only when all are busy, up to
``max_concurrency`` per function; beyond that invocations wait.

``layers/core`` is put on ``sys.path`` as the layer is in Lambda. While a handler module is
imported its ``CodeUri`` directory is on ``sys.path`` too, so it may import sibling modules;
those are ordinary ``sys.modules`` entries shared by every function, so two functions must not
ship different sibling modules of the same name.

Timeouts are not enforced (a thread cannot be killed); an invocation that overruns its
``Timeout`` is logged as a warning.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.environment import function_arn
from local.template import Function

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]


class UnknownFunctionError(LookupError):
    """No function of the template has that name or ARN."""


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def add_layer_paths(layer_dirs: Iterable[Path]) -> None:
    """Makes the layers importable, as /opt/python is in Lambda."""
    for layer_dir in layer_dirs:
        entry = str(layer_dir.resolve())
        if entry not in sys.path:
            sys.path.insert(0, entry)


class _FunctionPool:
    def __init__(self, function: Function, max_concurrency: int) -> None:
        self.function = function
        self._max = max_concurrency
        self._idle: list[Handler] = []
        self._loaded = 0
        self._available = threading.Condition()

    def acquire(self) -> Handler:
        with self._available:
            while not self._idle and self._loaded >= self._max:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._loaded += 1
            index = self._loaded
        try:
            return self._load(index)
        except BaseException:
            with self._available:
                self._loaded -= 1
                self._available.notify()
            raise

    def release(self, handler: Handler) -> None:
        with self._available:
            self._idle.append(handler)
            self._available.notify()

    def _load(self, index: int) -> Handler:
        fn = self.function
        module_name = f"lambda_{fn.logical_id}" + (f"__{index}" if index > 1 else "")
        started = time.monotonic()
        module = _import_file(module_name, fn.handler_file, fn.code_uri)
        handler = getattr(module, fn.handler_attribute, None)
        if not callable(handler):
            raise ImportError(f"{fn.handler_file} has no callable {fn.handler_attribute!r}")
        log.info(
            "cold start %s #%d (%.0f ms)", fn.logical_id, index, (time.monotonic() - started) * 1e3
        )
        return handler


_import_lock = threading.Lock()


def _import_file(module_name: str, path: Path, code_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load handler module {path}")
    module = importlib.util.module_from_spec(spec)
    # sys.path is process-wide: imports of handler modules are serialised.
    with _import_lock:
        sys.path.insert(0, str(code_dir))
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        finally:
            sys.path.remove(str(code_dir))
    return module


class FunctionRegistry:
    """Invokes the template's functions in-process by logical id, name or ARN."""

    def __init__(self, functions: Mapping[str, Function], max_concurrency: int = 4) -> None:
        self._pools = {fid: _FunctionPool(fn, max_concurrency) for fid, fn in functions.items()}

    @property
    def function_ids(self) -> list[str]:
        return list(self._pools)

    def logical_id(self, name_or_arn: str) -> str:
        """Maps a logical id, a function name or a (qualified) function ARN to the logical id."""
        candidate = name_or_arn
        if name_or_arn.startswith("arn:"):
            parts = name_or_arn.split(":")
            if len(parts) < 7 or parts[5] != "function":
                raise UnknownFunctionError(name_or_arn)
            candidate = parts[6]
        elif ":" in name_or_arn:  # "name:qualifier"
            candidate = name_or_arn.split(":", 1)[0]
        if candidate not in self._pools:
            raise UnknownFunctionError(name_or_arn)
        return candidate

    def function(self, name_or_arn: str) -> Function:
        return self._pools[self.logical_id(name_or_arn)].function

    def invoke(self, name_or_arn: str, event: Any, context: Any = None) -> Any:
        """Runs the handler with ``event``; exceptions propagate to the caller."""
        pool = self._pools[self.logical_id(name_or_arn)]
        fn = pool.function
        if context is None:
            context = LambdaContext(
                function_name=fn.logical_id,
                invoked_function_arn=function_arn(fn.logical_id),
                memory_limit_in_mb=fn.memory_mb,
                timeout_seconds=fn.timeout_seconds,
            )
        handler = pool.acquire()
        started = time.monotonic()
        try:
            return handler(event, context)
        finally:
            pool.release(handler)
            elapsed = time.monotonic() - started
            if elapsed > fn.timeout_seconds:
                log.warning(
                    "%s ran %.1f s, over its Timeout of %d s (Lambda would have stopped it)",
                    fn.logical_id,
                    elapsed,
                    fn.timeout_seconds,
                )
