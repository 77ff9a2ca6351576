"""Concurrent API requests in the local cloud keep their own event. Powertools keeps the
current event on its BaseRouter class (one invocation per process in Lambda), so the gateway
must not run two API handlers at once: here a handler reads a header after a pause in which
other requests arrive, as POST /leads reads Idempotency-Key after validating the body."""

from __future__ import annotations

import concurrent.futures
import json
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from local.gateway import ApiGateway, GatewayRequest
from local.template import Api, ApiRoute

app = APIGatewayRestResolver()


@app.post("/things")
def post_thing() -> dict[str, Any]:
    body = app.current_event.json_body
    time.sleep(0.002)  # another request's invocation would land here
    return {"body": body["n"], "header": app.current_event.headers["X-N"]}


def test_concurrent_api_requests_each_see_their_own_request() -> None:
    gateway = ApiGateway(
        [ApiRoute("Things", "Post", "Api", "/things", "POST", None)],
        {"Api": Api("Api", "v1", None, {})},
        {"Api": "v1"},
        lambda function_id, event: app.resolve(event, None),
    )

    def call(n: int) -> dict[str, Any]:
        request = GatewayRequest("POST", "/things", "", [("X-N", str(n))],
                                 json.dumps({"n": str(n)}).encode(), "127.0.0.1", "localhost")  # fmt: skip
        response = gateway.handle(request)
        assert response.status == 200
        result: dict[str, Any] = json.loads(response.body)
        return result

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(200)))
    assert [r["header"] for r in results] == [r["body"] for r in results]
