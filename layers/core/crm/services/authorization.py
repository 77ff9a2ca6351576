"""The authorizer's decision, apart from its Lambda plumbing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm.domain.errors import InvalidCredentials
from crm.domain.tenants import Principal


def bearer_token(headers: Mapping[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidCredentials("missing bearer token")
    return token.strip()


def api_wildcard_arn(method_arn: str) -> str:
    """arn:...:api-id/stage/METHOD/path -> arn:...:api-id/stage/*: the decision is cached per
    token by API Gateway, so it must cover every route the principal may call."""
    prefix, _, rest = method_arn.partition(":execute-api:")
    region_account_api, *_ = rest.split("/")
    stage = rest.split("/")[1] if "/" in rest else "*"
    return f"{prefix}:execute-api:{region_account_api}/{stage}/*"


def allow_policy(caller: Principal, method_arn: str) -> dict[str, Any]:
    return {
        "principalId": str(caller.user_id),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": api_wildcard_arn(method_arn),
                }
            ],
        },
        "context": {
            "tenant_id": str(caller.tenant_id),
            "user_id": str(caller.user_id),
            "role": str(caller.role),
        },
    }
