"""Cloudify's workflow_api names that workflow scripts use."""

EXECUTION_CANCELLED_RESULT = 'execution_cancelled'


class ExecutionCancelled(Exception):
    """The execution was cancelled while the workflow ran."""


def has_cancel_request():
    """Weft stops a cancelled workflow script itself (a task it waits for says so)."""
    return False
