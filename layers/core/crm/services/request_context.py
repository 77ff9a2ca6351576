"""What a mutating use case needs to know about the request besides its input: who calls
(the principal), the correlation id its events carry, and where it came from (audit)."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm.domain.audit import RequestMeta
from crm.domain.tenants import Principal


@dataclass(frozen=True)
class RequestContext:
    principal: Principal
    correlation_id: str | None = None
    meta: RequestMeta = field(default_factory=RequestMeta)
