"""What an invocation of a local Lambda function can end with besides a result, as the callers
(the gateway, the Lambda Invoke API of embedded moto, event sources) tell them apart."""

from __future__ import annotations


class FunctionError(Exception):
    """The handler raised (or its module failed to import). ``str()`` is the error message, so
    an authorizer raising ``Exception("Unauthorized")`` still reads as ``Unauthorized``;
    ``error_type`` is the exception's class name, as Lambda reports it in ``errorType``."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.stack_trace = stack_trace or []


class FunctionTimeoutError(FunctionError):
    """The invocation ran past the function's ``Timeout``; its environment was stopped."""

    def __init__(self, function_id: str, timeout_seconds: float) -> None:
        super().__init__(
            "Sandbox.Timedout",
            f"{function_id}: Task timed out after {timeout_seconds:.2f} seconds",
        )
        self.function_id = function_id


class TooManyRequestsError(Exception):
    """Every environment the function may have is busy (its ReservedConcurrentExecutions):
    Lambda's ``TooManyRequestsException`` (Rate Exceeded)."""

    error_type = "TooManyRequestsException"

    def __init__(self, function_id: str, limit: int) -> None:
        super().__init__(f"{function_id}: Rate Exceeded (concurrency limit {limit} reached)")
        self.function_id = function_id
        self.limit = limit
