"""The Powertools Tracer (X-Ray), created once; imported only by the functions that trace."""

from __future__ import annotations

from aws_lambda_powertools import Tracer

tracer = Tracer()
