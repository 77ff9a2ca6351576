"""Admission of an authenticated API request, before routing and body validation:

1. count it in the tenant's one-minute window: over the plan's limit -> 429;
2. take the caller's role and status from the database, not the token (a demoted or
   deactivated user loses access on their next request, not when the token expires):
   no such user, or not active -> 401; likewise a revoked or expired API key, or an access
   token issued before the user's password was reset (the authorizer's decision for it may
   still be cached);
3. the route's permission from the matrix (crm.domain.permissions.ROUTE_PERMISSIONS): a caller
   without it -> 403, whatever the body holds; a route missing from the matrix is refused.
"""

from __future__ import annotations

import dataclasses

from crm.domain.admission import Admission
from crm.domain.errors import InvalidCredentials, RateLimited
from crm.domain.permissions import PUBLIC, require, route_permission
from crm.domain.tenants import Principal, UserStatus


class UnmappedRoute(LookupError):
    """A route with an authorizer but no entry in the permission matrix: a programming error."""


def admit(caller: Principal, admission: Admission, method: str, resource: str) -> Principal:
    """The principal the route runs as; raises RateLimited, InvalidCredentials, Forbidden or
    UnmappedRoute."""
    if admission.rate_limited:
        assert admission.request_limit is not None
        raise RateLimited(admission.request_limit, admission.reset_seconds)
    if admission.user_role is None or admission.user_status != UserStatus.ACTIVE:
        raise InvalidCredentials("this account is not active")
    if admission.credential_revoked:
        raise InvalidCredentials("this credential has been revoked")
    admitted = dataclasses.replace(
        caller, role=admission.user_role, custom_grant=admission.custom_grant
    )
    permission = route_permission(method, resource)
    if permission is None:
        raise UnmappedRoute(f"{method} {resource} is not in the permission matrix")
    if permission != PUBLIC:
        require(admitted, permission)
    return admitted
