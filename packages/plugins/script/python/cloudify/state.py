"""`from cloudify.state import ctx_parameters as inputs`: the operation's inputs (in a workflow
script, the workflow's parameters); `workflow_ctx` and `workflow_parameters` as Cloudify names them."""

import os
from collections.abc import Mapping

from . import ctx as current_ctx_value
from . import proxy_client


class MissingInput(KeyError, AttributeError):
    """An input read by attribute that was not given: a KeyError, as Cloudify raises, and an
    AttributeError, so that hasattr() and getattr() with a default work too."""


class _Inputs(Mapping):
    """The operation's inputs, read from ctx on first use, by key (`inputs['port']`) or by
    attribute (`inputs.port`), as Cloudify's CtxParameters allows."""

    def __init__(self):
        self._values = None

    def _load(self):
        if self._values is None:
            if os.environ.get('WEFT_CTX_KIND') == 'workflow':
                from .workflows import parameters
                self._values = dict(parameters.items())
            else:
                self._values = proxy_client.request(('operation', 'inputs')) or {}
        return self._values

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self):
        return len(self._load())

    def __getattr__(self, name):
        # Only names that are not attributes of the mapping itself (keys, get, items...) get here.
        if name.startswith('__'):
            raise AttributeError(name)
        values = self._load()
        if name not in values:
            raise MissingInput(name)
        return values[name]


class _CurrentContext(object):
    def get_ctx(self):
        return current_ctx_value


class _CurrentWorkflowContext(object):
    def get_ctx(self):
        from .workflows import ctx
        return ctx

    def get_parameters(self):
        from .workflows import parameters
        return parameters


ctx_parameters = _Inputs()
current_ctx = _CurrentContext()
current_workflow_ctx = _CurrentWorkflowContext()


def __getattr__(name):
    # Loaded when asked for: an operation's script never loads the workflow module.
    if name == 'workflow_ctx':
        return current_workflow_ctx.get_ctx()
    if name == 'workflow_parameters':
        return current_workflow_ctx.get_parameters()
    raise AttributeError(name)
