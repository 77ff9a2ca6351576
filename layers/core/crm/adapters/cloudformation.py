"""Answers a CloudFormation custom resource request: PUT the outcome to its pre-signed
ResponseURL. CloudFormation waits (up to an hour) for this answer, so a handler sends one
whatever happened."""

from __future__ import annotations

import json
from typing import Any

import urllib3

_http = urllib3.PoolManager()


def respond(
    event: dict[str, Any],
    status: str,
    reason: str,
    physical_id: str,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response = {
        "Status": status,
        "Reason": reason[:1000],
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data or {},
    }
    # The pre-signed S3 URL's signature covers an empty content type.
    _http.request(
        "PUT", event["ResponseURL"], body=json.dumps(response), headers={"content-type": ""}
    )
    return response
