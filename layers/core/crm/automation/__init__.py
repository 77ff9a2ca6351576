"""Automations: the workflow model and its compiler to Step Functions (ASL)."""

from crm.automation.compiler import (
    DEFAULT_RETRY,
    RetryPolicy,
    compile_workflow,
    execution_name,
    state_machine_name,
)
from crm.automation.model import Workflow

__all__ = [
    "DEFAULT_RETRY",
    "RetryPolicy",
    "Workflow",
    "compile_workflow",
    "execution_name",
    "state_machine_name",
]
