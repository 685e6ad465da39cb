"""Cloudify's workflow API for workflow scripts run by Weft's script plugin:
`from cloudify.workflows import ctx, parameters` reach the running workflow."""

from . import workflow_api as api  # noqa: F401
from .workflow_context import ctx, parameters  # noqa: F401
