"""`from cloudify.state import ctx_parameters as inputs`: the operation's inputs."""

from collections.abc import Mapping

from . import ctx as current_ctx_value
from . import proxy_client


class _Inputs(Mapping):
    """The operation's inputs, read from ctx on first use."""

    def __init__(self):
        self._values = None

    def _load(self):
        if self._values is None:
            self._values = proxy_client.request(('operation', 'inputs')) or {}
        return self._values

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self):
        return len(self._load())


class _CurrentContext(object):
    def get_ctx(self):
        return current_ctx_value


ctx_parameters = _Inputs()
current_ctx = _CurrentContext()
