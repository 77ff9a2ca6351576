"""Route guards: a route states the permission it needs; the matrix decides.

The API gate (crm.api.gate) already requires every route's permission from
crm.domain.permissions.ROUTE_PERMISSIONS before the route runs; a route calls `require` itself
only for a decision that depends on the request (e.g. which role is being granted).
"""

from __future__ import annotations

from crm.domain.permissions import require

__all__ = ["require"]
