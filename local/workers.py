"""Runs the template's functions in worker processes, as Lambda runs them in execution
environments.

Each environment is a process of its own serving one function, one invocation at a time:

- its environment variables are the function's own (the template's, Globals merged, resolved
  locally), not those of the other functions; its ``sys.path`` is its ``CodeUri`` and its own
  layers, as ``/var/task`` and ``/opt/python`` are in Lambda;
- it imports the handler module once (the init phase, logged as ``INIT_START`` and reported as
  ``Init Duration`` on the first ``REPORT`` line), then serves invocations warm;
- an invocation that runs past the function's ``Timeout`` is stopped with its environment
  (SIGKILL): the caller gets :class:`FunctionTimeoutError`, the next invocation a new one;
- a function has at most ``ReservedConcurrentExecutions`` environments when the template gives
  it, else ``max_environments`` (a limit of this machine, not of Lambda). When all are busy an
  invocation with ``throttle=True`` (the API gateway's) fails at once with
  :class:`TooManyRequestsError`, others (event sources, Step Functions, ``local invoke``) wait
  for one: back-pressure;
- environments start on their function's first invocation (none at start-up) and an
  environment idle for ``idle_seconds`` is stopped, to keep memory small with many functions.

Start-up cost: a fresh interpreter importing a handler and the layer (Powertools, X-Ray,
botocore, pydantic, pg8000 ...) takes ~1.5 s. Environments are therefore forked from a
``multiprocessing`` fork server that has imported the layer's third-party packages once
and the layer's own modules (:data:`PRELOAD`), except those that read the function's
environment when imported (Powertools ``Logger``/``Metrics``/``Tracer`` objects created at
import: see :mod:`local.worker_preload`); a cold start then imports only the function's module
and those.

Events and results cross the process boundary as JSON, as they do in Lambda (a result that is
not JSON-serialisable is a ``Runtime.MarshalError``). The handlers' output (stdout and stderr)
goes to the local cloud's stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import resource
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from local.environment import function_arn
from local.invocation import FunctionError, FunctionTimeoutError, TooManyRequestsError
from local.registry import LambdaContext, UnknownFunctionError
from local.template import Function

log = logging.getLogger("local.lambda")

# Imported once by the fork server, shared by every environment (copy-on-write).
PRELOAD = (
    "json",
    "decimal",
    "uuid",
    "logging",
    "pydantic",
    "pydantic_core",
    "email_validator",
    "boto3",
    "botocore.session",
    "botocore.client",
    "botocore.waiter",
    "aws_xray_sdk.core",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.typing",
    "pg8000",
    "pg8000.native",
    "pg8000.dbapi",
    "pika",
    "opensearchpy",
    "jwt",
    "argon2",
    "cryptography.hazmat.primitives.ciphers.aead",
    "urllib3",
    "zoneinfo",
    # the layer's own modules that read no environment at import (see the module)
    "local.worker_preload",
)

DEFAULT_MAX_ENVIRONMENTS = 4
DEFAULT_IDLE_SECONDS = 300.0
# Lambda allows 10 s of init; this shared 2-core machine gets more slack.
INIT_TIMEOUT_SECONDS = 30.0
_STOP = b'{"stop": true}'

_context_lock = threading.Lock()
_context: Any = None


def _fork_context(preload_layer: bool = True) -> Any:
    """The fork server context, with the layer preloaded (the first call decides)."""
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            modules = [m for m in PRELOAD if preload_layer or not m.startswith("local.")]
            context.set_forkserver_preload(modules)
            _context = context
        return _context


def warm_up(layer_dirs: Iterable[Path] = (), preload_layer: bool = True) -> None:
    """Starts the fork server (importing :data:`PRELOAD` from ``layer_dirs``) now rather
    than on the first invocation. The first call in a process decides its layers.
    ``preload_layer=False`` preloads third-party packages only (for one invocation, as
    ``python -m local invoke`` makes, importing all of the layer costs more than it saves)."""
    from multiprocessing import forkserver

    _fork_context(preload_layer)
    # The fork server is a fresh interpreter that ignores this process's sys.path (Python
    # 3.11 passes it but does not apply it): it finds the layers and this package through
    # PYTHONPATH.
    paths = [str(Path(__file__).resolve().parent.parent), *(str(d) for d in layer_dirs)]
    with _context_lock:
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([saved] if saved else []))
        try:
            forkserver.ensure_running()
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved


# ------------------------------------------------------------------ inside an environment


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment needs to start: picklable, sent to the fork server."""

    function_id: str
    handler_module: str
    handler_attribute: str
    code_dir: str
    layer_dirs: tuple[str, ...]
    other_layer_dirs: tuple[str, ...]  # on the local cloud's sys.path, not on this one's
    environment: Mapping[str, str]
    memory_mb: int
    timeout_seconds: int


def _environment_main(conn: Connection, spec: EnvironmentSpec) -> None:
    """The body of an execution environment: init, then one invocation per message."""
    # Lambda sends both streams to CloudWatch; here both go to the cloud's stderr, so that
    # `python -m local invoke` keeps its stdout for the result.
    with contextlib.suppress(OSError):
        os.dup2(2, 1)
    os.environ.clear()
    os.environ.update(spec.environment)
    sys.path[:] = [p for p in sys.path if p not in spec.other_layer_dirs]
    for entry in (*reversed(spec.layer_dirs), spec.code_dir):
        sys.path.insert(0, entry)
    started = time.monotonic()
    try:
        module = __import__(spec.handler_module, fromlist=["_"])
        handler = getattr(module, spec.handler_attribute)
        if not callable(handler):
            raise TypeError(f"{spec.handler_module}.{spec.handler_attribute} is not callable")
    except BaseException as error:
        conn.send_bytes(_error_message("Runtime.ImportModuleError", error))
        return
    conn.send_bytes(json.dumps({"ready": (time.monotonic() - started) * 1000}).encode())
    arn = function_arn(spec.function_id)
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the local cloud is gone
        if raw == _STOP:
            return
        request = json.loads(raw)
        context = LambdaContext(
            function_name=spec.function_id,
            invoked_function_arn=arn,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
            aws_request_id=request["id"],
        )
        usage = 0
        try:
            result = handler(request["event"], context)
            usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            try:
                payload = json.dumps({"result": result, "max_memory_mb": usage}).encode()
            except (TypeError, ValueError) as error:
                payload = _error_message("Runtime.MarshalError", error, usage)
        except BaseException as error:
            payload = _error_message(type(error).__name__, error, usage)
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send_bytes(payload)


def _error_message(error_type: str, error: BaseException, max_memory_mb: int = 0) -> bytes:
    failure = {
        "errorType": error_type,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error),
    }
    return json.dumps({"error": failure, "max_memory_mb": max_memory_mb}).encode()


# ------------------------------------------------------------------ the local cloud's side


@dataclass(eq=False)
class _Environment:
    number: int
    process: Any  # multiprocessing.Process of the fork server context
    conn: Connection
    init_ms: float = 0.0
    invocations: int = 0
    last_used: float = field(default_factory=time.monotonic)

    def stop(self, *, kill: bool = False) -> None:
        if not kill:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send_bytes(_STOP)
            self.process.join(1.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        with contextlib.suppress(OSError):
            self.conn.close()


class _FunctionWorkers:
    """The execution environments of one function."""

    def __init__(
        self,
        function: Function,
        spec: EnvironmentSpec,
        limit: int,
        reserved: bool,
    ) -> None:
        self.function = function
        self.spec = spec
        self.limit = limit
        self.reserved = reserved
        self._idle: list[_Environment] = []
        self._count = 0  # idle + busy + starting
        self._started = 0
        self._changed = threading.Condition()
        self._closed = False

    # -- environments ---------------------------------------------------------------------

    def _acquire(self, throttle: bool) -> _Environment | None:
        """An idle environment, or None when the caller may start a new one."""
        with self._changed:
            while True:
                if self._closed:
                    raise RuntimeError("the local Lambda runtime is stopped")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.limit:
                    self._count += 1
                    self._started += 1
                    return None
                # Reserved concurrency is Lambda's limit: throttled. The local cap of
                # environments is this machine's: the invocation waits for one.
                if (throttle and self.reserved) or self.limit == 0:
                    raise TooManyRequestsError(self.function.logical_id, self.limit)
                self._changed.wait()

    def _release(self, environment: _Environment | None) -> None:
        with self._changed:
            if environment is None:
                self._count -= 1
            elif self._closed:
                self._count -= 1
                environment.stop()
            else:
                environment.last_used = time.monotonic()
                self._idle.append(environment)
            self._changed.notify()

    def _start_environment(self) -> _Environment:
        with self._changed:
            number = self._started
        log.info("INIT_START Function: %s Environment: %d", self.function.logical_id, number)
        warm_up(Path(d) for d in self.spec.other_layer_dirs)  # at once if already running
        ours, theirs = multiprocessing.Pipe(duplex=True)
        process = _fork_context().Process(
            target=_environment_main,
            args=(theirs, self.spec),
            name=f"lambda-{self.function.logical_id}-{number}",
            daemon=True,
        )
        started = time.monotonic()
        process.start()
        theirs.close()
        environment = _Environment(number, process, ours)
        try:
            if not ours.poll(INIT_TIMEOUT_SECONDS):
                environment.stop(kill=True)
                raise FunctionTimeoutError(self.function.logical_id, INIT_TIMEOUT_SECONDS)
            message = json.loads(ours.recv_bytes())
        except (EOFError, OSError):
            environment.stop(kill=True)
            raise FunctionError(
                "Runtime.ExitError", f"{self.function.logical_id}: the environment exited"
            ) from None
        if "error" in message:
            environment.stop(kill=True)
            failure = message["error"]
            raise FunctionError(
                failure["errorType"], failure["errorMessage"], failure["stackTrace"]
            )
        environment.init_ms = (time.monotonic() - started) * 1000
        return environment

    def reap(self, idle_seconds: float) -> int:
        now = time.monotonic()
        with self._changed:
            stale = [e for e in self._idle if now - e.last_used > idle_seconds]
            self._idle = [e for e in self._idle if e not in stale]
            self._count -= len(stale)
            self._changed.notify_all()
        for environment in stale:
            environment.stop()
        return len(stale)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._changed.notify_all()
        for environment in idle:
            environment.stop()

    @property
    def environments(self) -> int:
        with self._changed:
            return self._count

    # -- one invocation -------------------------------------------------------------------

    def invoke(self, event: Any, throttle: bool) -> Any:
        fn = self.function
        request_id = str(uuid.uuid4())
        timeout = float(fn.timeout_seconds)
        try:
            body = json.dumps({"id": request_id, "event": event}).encode()
        except (TypeError, ValueError) as error:
            raise FunctionError("InvalidRequestContentException", str(error)) from error
        environment = self._acquire(throttle)
        cold = environment is None
        if environment is None:
            try:
                environment = self._start_environment()
            except BaseException:
                self._release(None)
                raise
        started = time.monotonic()
        try:
            environment.conn.send_bytes(body)
            if not environment.conn.poll(timeout):
                raise _Timeout
            message = json.loads(environment.conn.recv_bytes())
        except _Timeout:
            self._report(request_id, started, environment, cold, status="timeout")
            environment.stop(kill=True)
            self._release(None)
            log.error("%s Task timed out after %.2f seconds", request_id, timeout)
            raise FunctionTimeoutError(fn.logical_id, timeout) from None
        except (EOFError, OSError):
            self._report(request_id, started, environment, cold, status="error")
            environment.stop(kill=True)
            self._release(None)
            raise FunctionError(
                "Runtime.ExitError", f"{fn.logical_id}: the environment exited"
            ) from None
        environment.invocations += 1
        self._report(request_id, started, environment, cold, message.get("max_memory_mb"))
        self._release(environment)
        if "error" in message:
            failure = message["error"]
            raise FunctionError(
                failure["errorType"], failure["errorMessage"], failure["stackTrace"]
            )
        return message["result"]

    def _report(
        self,
        request_id: str,
        started: float,
        environment: _Environment,
        cold: bool,
        max_memory_mb: int | None = None,
        status: str | None = None,
    ) -> None:
        duration = (time.monotonic() - started) * 1000
        line = (
            f"REPORT RequestId: {request_id}\tFunction: {self.function.logical_id}"
            f"\tEnvironment: {environment.number}\tDuration: {duration:.2f} ms"
            f"\tBilled Duration: {math.ceil(duration)} ms"
            f"\tMemory Size: {self.function.memory_mb} MB"
        )
        if max_memory_mb is not None:
            line += f"\tMax Memory Used: {max_memory_mb} MB"
        if cold:
            line += f"\tInit Duration: {environment.init_ms:.2f} ms"
        if status is not None:
            line += f"\tStatus: {status}"
        log.info("%s", line)


class _Timeout(Exception):
    pass


class LambdaRuntime:
    """Invokes the template's functions by logical id, name or ARN, each in its own worker
    processes (see the module's docstring). Same interface as
    :class:`local.registry.FunctionRegistry`; configure each function's environment with
    :meth:`configure` before the first invocation."""

    def __init__(
        self,
        functions: Mapping[str, Function],
        layer_dirs: Mapping[str, Path] | None = None,
        *,
        max_environments: int = DEFAULT_MAX_ENVIRONMENTS,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        preload_layer: bool = True,
    ) -> None:
        self._functions = dict(functions)
        self._preload_layer = preload_layer
        self._layer_dirs = dict(layer_dirs or {})
        self._max_environments = max_environments
        self._idle_seconds = idle_seconds
        self._workers: dict[str, _FunctionWorkers] = {}
        self._environments: dict[str, dict[str, str]] = {fid: {} for fid in functions}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reaper: threading.Thread | None = None

    @property
    def function_ids(self) -> list[str]:
        return list(self._functions)

    def logical_id(self, name_or_arn: str) -> str:
        candidate = name_or_arn
        if name_or_arn.startswith("arn:"):
            parts = name_or_arn.split(":")
            if len(parts) < 7 or parts[5] != "function":
                raise UnknownFunctionError(name_or_arn)
            candidate = parts[6]
        elif ":" in name_or_arn:
            candidate = name_or_arn.split(":", 1)[0]
        if candidate not in self._functions:
            raise UnknownFunctionError(name_or_arn)
        return candidate

    def function(self, name_or_arn: str) -> Function:
        return self._functions[self.logical_id(name_or_arn)]

    def configure(self, environments: Mapping[str, Mapping[str, str]]) -> None:
        """Sets each function's environment variables (for environments started from now)."""
        with self._lock:
            for function_id, variables in environments.items():
                self._environments[function_id] = dict(variables)
                workers = self._workers.pop(function_id, None)
                if workers is not None:
                    workers.close()

    def start(self) -> None:
        """Starts the fork server in the background and the reaper of idle environments."""
        threading.Thread(
            target=_warm_up_quietly,
            args=(list(self._layer_dirs.values()), self._preload_layer),
            name="lambda-forkserver",
            daemon=True,
        ).start()
        self._stopping.clear()
        self._reaper = threading.Thread(target=self._reap, name="lambda-reaper", daemon=True)
        self._reaper.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._reaper is not None:
            self._reaper.join(5)
            self._reaper = None
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for w in workers:
            w.close()

    def environments(self, name_or_arn: str) -> int:
        """How many environments the function has now (idle or busy)."""
        with self._lock:
            workers = self._workers.get(self.logical_id(name_or_arn))
        return workers.environments if workers is not None else 0

    def invoke(
        self, name_or_arn: str, event: Any, context: Any = None, *, throttle: bool = False
    ) -> Any:
        """Runs the function with ``event`` in one of its environments. Raises
        :class:`FunctionError` when the handler raises, :class:`FunctionTimeoutError` past
        its Timeout, :class:`TooManyRequestsError` when ``throttle`` and all are busy.
        ``context`` is ignored: each environment builds its own."""
        return self._workers_of(self.logical_id(name_or_arn)).invoke(event, throttle)

    def invoke_throttled(self, name_or_arn: str, event: Any) -> Any:
        """As API Gateway invokes: over the concurrency limit fails at once."""
        return self.invoke(name_or_arn, event, throttle=True)

    def _workers_of(self, function_id: str) -> _FunctionWorkers:
        with self._lock:
            workers = self._workers.get(function_id)
            if workers is None:
                fn = self._functions[function_id]
                spec = EnvironmentSpec(
                    function_id=function_id,
                    handler_module=fn.handler_module,
                    handler_attribute=fn.handler_attribute,
                    code_dir=str(fn.code_uri),
                    layer_dirs=tuple(str(d) for d in self._function_layers(fn)),
                    other_layer_dirs=tuple(str(d) for d in self._layer_dirs.values()),
                    environment=self._environments[function_id],
                    memory_mb=fn.memory_mb,
                    timeout_seconds=fn.timeout_seconds,
                )
                reserved = fn.reserved_concurrency is not None
                limit = fn.reserved_concurrency if reserved else self._max_environments
                workers = _FunctionWorkers(fn, spec, int(limit or 0), reserved)
                self._workers[function_id] = workers
            return workers

    def _function_layers(self, fn: Function) -> Iterable[Path]:
        for layer in fn.layers:
            name = layer.get("Ref") if isinstance(layer, dict) else None
            if isinstance(name, str) and name in self._layer_dirs:
                yield self._layer_dirs[name]

    def _reap(self) -> None:
        interval = max(0.5, min(30.0, self._idle_seconds / 4))
        while not self._stopping.wait(interval):
            with self._lock:
                workers = list(self._workers.values())
            for w in workers:
                stopped = w.reap(self._idle_seconds)
                if stopped:
                    log.info("%s: %d idle environment(s) stopped", w.function.logical_id, stopped)


def _warm_up_quietly(layer_dirs: list[Path], preload_layer: bool) -> None:
    try:
        warm_up(layer_dirs, preload_layer)
    except Exception:
        log.exception("the Lambda fork server did not start")
