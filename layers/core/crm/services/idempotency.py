"""Idempotency-Key for POST routes, reusable by every service.

A retry with the same key and the same request returns the first response and writes
nothing; the same key with a different request (or on another operation) is a 422; parallel
requests with one key produce one record: the key is claimed first, in the same transaction
as the write, and a concurrent claim waits for that transaction (see IdempotencyStore.claim).

    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "deals.create", request)
        if claim.replay is not None:
            return claim.replay.body, True
        ... write, add events ...
        claim.complete(201, body)
        uow.commit()
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm.domain.errors import ValidationFailed
from crm.ports.audit import IdempotencyUnitOfWork

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


class IdempotencyClaim:
    """The outcome of claiming a key: a response to replay, or the right to do the work."""

    def __init__(
        self, uow: IdempotencyUnitOfWork | None, key: str | None, replay: StoredResponse | None
    ):
        self._uow, self._key, self.replay = uow, key, replay

    def complete(self, status: int, body: dict[str, Any]) -> None:
        if self._uow is not None and self._key is not None:
            self._uow.idempotency.complete(self._key, status, body)


def request_fingerprint(operation: str, request: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"operation": operation, "request": request}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(
    uow: IdempotencyUnitOfWork, key: str | None, operation: str, request: Mapping[str, Any]
) -> IdempotencyClaim:
    """Claim `key` for (`operation`, `request`) inside `uow`; no key: nothing is stored."""
    if key is None:
        return IdempotencyClaim(None, None, None)
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ValidationFailed(
            "the Idempotency-Key header is not usable",
            [
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": f"1 to {MAX_KEY_LENGTH} printable ASCII characters",
                    "type": "value_error",
                }
            ],
        )
    fingerprint = request_fingerprint(operation, request)
    previous = uow.idempotency.claim(key, fingerprint)
    if previous is None:
        return IdempotencyClaim(uow, key, None)
    previous_fingerprint, status, body = previous
    if previous_fingerprint != fingerprint:
        raise ValidationFailed(
            "this Idempotency-Key was used for a different request",
            [
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": "already used with another request body or route",
                    "type": "value_error",
                }
            ],
        )
    return IdempotencyClaim(uow, key, StoredResponse(status, body))
