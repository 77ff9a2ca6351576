"""Strict request types for the API's models (defined in crm.domain.strict, which the
automation actions share so that update_field accepts exactly what a PATCH accepts)."""

from crm.domain.strict import StrictAwareDatetime, StrictBool, StrictDate, StrictDatetime

__all__ = ["StrictAwareDatetime", "StrictBool", "StrictDate", "StrictDatetime"]
