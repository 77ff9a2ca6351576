"""Ports of the automation webhook action: the automation's signing secret, sealed."""

from __future__ import annotations

import uuid
from typing import Protocol


class AutomationWebhookSecrets(Protocol):
    """One sealed Standard Webhooks secret per automation (the tenant's, by row security)."""

    def get(self, automation_id: uuid.UUID) -> str | None:
        """The sealed secret; None when the automation has none."""
        ...

    def put(self, automation_id: uuid.UUID, sealed: str) -> None:
        """Store the automation's sealed secret, replacing (rotating) the one it had."""
        ...
