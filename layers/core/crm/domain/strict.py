"""Strict request types: a boolean is true or false, a date or date-time is written as one.

Pydantic's lax mode reads 0 as false and a number as seconds since the epoch, so
`own_records_only: 0` or `?to=0` would be accepted where the document says boolean or
date/date-time. These types accept only what the document promises (RFC 3339 text)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, StrictBool

__all__ = ["StrictAwareDatetime", "StrictBool", "StrictDate", "StrictDatetime"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _text_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


def _text_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValueError("a date-time is written as RFC 3339 (YYYY-MM-DDTHH:MM:SS+00:00)")
    return value


StrictDate = Annotated[date, BeforeValidator(_text_date)]
StrictDatetime = Annotated[datetime, BeforeValidator(_text_datetime)]
StrictAwareDatetime = Annotated[AwareDatetime, BeforeValidator(_text_datetime)]
