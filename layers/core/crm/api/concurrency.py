"""ETag / If-Match for routes of versioned records (no lost updates).

Reads answer `ETag: "<version>"`. PATCH and DELETE honour `If-Match`: a stale version -> 412
problem+json (PreconditionFailed, mapped in crm.api.problems). If-Match is optional (no 428):
a client that sends none accepts last-write-wins, as the walking skeleton's clients do; one
that sends it never overwrites a change it has not seen. The service checks the version
against the row it has locked (SELECT ... FOR UPDATE), so of two writers holding the same ETag
exactly one succeeds.

    @app.patch("/things/<thing_id>")
    def patch_thing(thing_id: str, body: ThingPatch):
        thing = update_thing(..., precondition=if_match(app))
        return json_response(200, thing, ETag=etag(thing["version"]))
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from crm.api.context import header
from crm.api.contract import require_declared
from crm.domain.concurrency import Precondition, etag_for

__all__ = ["Precondition", "etag", "if_match"]


def etag(version: int) -> str:
    return etag_for(version)


def if_match(app: APIGatewayRestResolver) -> Precondition | None:
    """The request's If-Match as a Precondition, or None when it sent none. The route must
    declare it (@contract(if_match=True))."""
    require_declared(app, "If-Match")
    value = header(app, "If-Match")
    return Precondition.from_header(value) if value is not None else None
