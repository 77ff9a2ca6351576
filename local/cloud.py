"""The local cloud: embedded moto, the handlers' environment, the function registry, the API
gateway, the MQ event sources and the scheduler, started and stopped together."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol

from local.aws import (
    DEFAULT_SENDERS,
    EmbeddedMoto,
    SecretSeeder,
    SecretStore,
    create_template_buckets,
    create_template_secrets,
    verify_senders,
)
from local.environment import (
    LOCAL_STAGE,
    IntrinsicResolver,
    apply_environment,
    build_environment,
    function_environments,
)
from local.gateway import ApiGateway
from local.mq import MqEventSources
from local.registry import add_layer_paths
from local.scheduler import Scheduler
from local.template import Template, read_template
from local.websocket import WEBSOCKET_MANAGEMENT_URL, websocket_api
from local.workers import DEFAULT_IDLE_SECONDS, DEFAULT_MAX_ENVIRONMENTS, LambdaRuntime

log = logging.getLogger(__name__)


class ServiceEndpoints(Protocol):
    """What the local cloud needs from ``local.services.Endpoints``."""

    @property
    def amqp_url(self) -> str: ...

    @property
    def opensearch_url(self) -> str: ...


class LocalCloud:
    """Runs the template's functions on this machine as AWS would.

    ``serve=False`` starts only what invoking a handler needs (moto, secrets, environment,
    registry): no gateway, MQ pollers or scheduler. That is what ``python -m local invoke`` uses.

    ``extra_environment`` replaces more infrastructure variables of the template (for
    instance ``RELAY_DATABASE_URL``), like ``app_database_url`` replaces ``DATABASE_URL``.

    Functions run in worker processes, as Lambda execution environments
    (:mod:`local.workers`): ``max_environments`` per function unless the template reserves
    concurrency, stopped after ``idle_seconds`` unused.

    Every function's environment merged is also set into this process's ``os.environ`` at
    start (for in-process helpers) and restored at stop.
    """

    def __init__(
        self,
        template_path: Path,
        *,
        endpoints: ServiceEndpoints,
        app_database_url: str,
        profile_dir: Path,
        gateway_port: int = 0,
        moto_port: int = 0,
        secret_seeders: Mapping[str, SecretSeeder] | None = None,
        schedule_interval: float | None = None,
        mq_failure_backoff: Callable[[int], float] | None = None,
        extra_environment: Mapping[str, str] | None = None,
        stage: str = LOCAL_STAGE,
        serve: bool = True,
        max_environments: int = DEFAULT_MAX_ENVIRONMENTS,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
    ) -> None:
        self.template: Template = read_template(template_path)
        self.registry = LambdaRuntime(
            self.template.functions,
            self.template.layers,
            max_environments=max_environments,
            idle_seconds=idle_seconds,
            preload_layer=serve,  # one `local invoke` would not amortise it
        )
        self._endpoints = endpoints
        self._app_database_url = app_database_url
        self._profile_dir = profile_dir
        self._gateway_port = gateway_port
        self._secret_seeders = dict(secret_seeders or {})
        self._schedule_interval = schedule_interval
        self._mq_failure_backoff = mq_failure_backoff
        self._extra_environment = dict(extra_environment or {})
        self._stage = stage
        self._serve = serve
        self.moto = EmbeddedMoto(self.registry.invoke, moto_port)
        self.environment: dict[str, str] = {}
        self.gateway: ApiGateway | None = None
        self.event_sources: MqEventSources | None = None
        self.scheduler: Scheduler | None = None
        self._saved_environ: dict[str, str] | None = None

    @property
    def url(self) -> str:
        if self.gateway is None:
            raise RuntimeError("the local cloud is not serving HTTP")
        return self.gateway.url

    def start(self) -> LocalCloud:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._saved_environ = dict(os.environ)
        self.moto.start()
        secret_arns = create_template_secrets(
            self.moto,
            self.template,
            SecretStore(self._profile_dir / "secrets.json"),
            self._secret_seeders,
        )
        verify_senders(self.moto, DEFAULT_SENDERS)
        create_template_buckets(self.moto, self.template, self._stage)
        endpoints = {
            "DATABASE_URL": self._app_database_url,
            "AMQP_URL": self._endpoints.amqp_url,
            "OPENSEARCH_URL": self._endpoints.opensearch_url,
            "OPENSEARCH_AUTH": "none",  # the local node has no security plugin
            # the gateway's own URL, known once it listens (set below); not "left unset"
            WEBSOCKET_MANAGEMENT_URL: "http://127.0.0.1:1",
            **self._extra_environment,
        }
        self.environment = build_environment(
            self.template,
            endpoints=endpoints,
            moto_port=self.moto.port,
            secret_arns=secret_arns,
            stage=self._stage,
        )
        apply_environment(self.environment)
        add_layer_paths(self.template.layer_dirs)
        self.function_environments = function_environments(
            self.template,
            endpoints=endpoints,
            moto_port=self.moto.port,
            secret_arns=secret_arns,
            stage=self._stage,
        )
        self.registry.configure(self.function_environments)
        self.registry.start()
        if not self._serve:
            return
        resolver = IntrinsicResolver(self.template, secret_arns, {"Stage": self._stage})
        stages = {
            api_id: str(resolver.resolve(api.stage_name) or self._stage)
            for api_id, api in self.template.apis.items()
        }
        self.gateway = ApiGateway(
            self.template.routes,
            self.template.apis,
            stages,
            self.registry.invoke_throttled,
            port=self._gateway_port,
            websocket=websocket_api(self.template, self._stage, self.registry.invoke_throttled),
            serialize_invocations=False,  # each environment is a process of its own
        )
        self.gateway.start()
        # The Management API of the WebSocket API is the gateway itself (@connections); its
        # port is known only now. Handlers read settings at import, after this.
        os.environ[WEBSOCKET_MANAGEMENT_URL] = self.environment[WEBSOCKET_MANAGEMENT_URL] = (
            self.gateway.url
        )
        for variables in self.function_environments.values():
            variables[WEBSOCKET_MANAGEMENT_URL] = self.gateway.url
        self.registry.configure(self.function_environments)
        self.event_sources = MqEventSources(
            self._endpoints.amqp_url,
            self.template.mq_sources,
            self.registry.invoke,
            failure_backoff=self._mq_failure_backoff,
        )
        self.event_sources.start()
        self.scheduler = Scheduler(
            self.template.schedules,
            self.registry.invoke,
            interval_override=self._schedule_interval,
        )
        self.scheduler.start()

    def stop(self) -> None:
        """Stops everything that was started, newest first; safe to call twice."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.event_sources is not None:
            self.event_sources.stop()
            self.event_sources = None
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        self.registry.stop()
        self.moto.stop()
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
