"""The ctx of the running operation, for Python scripts: Cloudify's names, served over the ctx
endpoint. Writes to runtime properties are sent at once; changes made inside nested values are
sent when the script ends (Cloudify loses those: here they are kept)."""

import atexit
import copy

from . import proxy_client
from .logs import CtxLogger


def _call(*args):
    return proxy_client.request(args)



class _Properties(dict):
    """Node properties: read-only."""

    def _refuse(self, *args, **kwargs):
        raise RuntimeError('node properties cannot be changed')

    __setitem__ = __delitem__ = update = pop = setdefault = clear = _refuse


class _RuntimeProperties(dict):
    """An instance's runtime properties: each top-level change is saved at once."""

    def __init__(self, path, values):
        super().__init__(values)
        self._path = path
        self._saved = copy.deepcopy(values)

    def _set(self, key, value):
        # As a map of values, so that a key holding dots is not read as a path.
        _call(*self._path, 'update', {'values': {key: value}})
        self._saved[key] = copy.deepcopy(value)

    def __setitem__(self, key, value):
        # Sent first: a value the endpoint refuses (over the size limit) is not kept here either.
        self._set(key, value)
        super().__setitem__(key, value)

    def __delitem__(self, key):
        super().__delitem__(key)
        _call(*self._path, 'pop', key)
        self._saved.pop(key, None)

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key, *default):
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        value = self[key]
        del self[key]
        return value

    def flush(self):
        """Sends what changed inside nested values since it was last saved."""
        for key, value in list(self.items()):
            if self._saved.get(key, _MISSING) != value:
                self._set(key, value)


_MISSING = object()
_dirty_tracked = []


@atexit.register
def _flush_all():
    for properties in _dirty_tracked:
        properties.flush()


class _Node(object):
    def __init__(self, path):
        self._path = path
        self._data = None

    def _load(self):
        if self._data is None:
            self._data = _call(*self._path) or {}
        return self._data

    id = property(lambda self: self._load().get('id'))
    name = property(lambda self: self._load().get('name'))
    type = property(lambda self: self._load().get('type'))
    type_hierarchy = property(lambda self: self._load().get('type_hierarchy'))
    properties = property(lambda self: _Properties(self._load().get('properties') or {}))


class _Snapshot(object):
    """A relationship target's node or instance, as the operation started (read only)."""

    def __init__(self, data, properties_key):
        for key, value in data.items():
            setattr(self, key, value)
        if properties_key in data:
            setattr(self, properties_key, _Properties(data[properties_key] or {}))


class _Target(object):
    def __init__(self, data):
        self.node = _Snapshot(data.get('node') or {}, 'properties')
        self.instance = _Snapshot(data.get('instance') or {}, 'runtime_properties')


class _Relationship(object):
    def __init__(self, data):
        self.type = data.get('type')
        self.type_hierarchy = data.get('type_hierarchy')
        self.target = _Target(data.get('target') or {})


class _Instance(object):
    def __init__(self, path):
        self._path = path
        self._data = None
        self._runtime_properties = None

    def _load(self):
        if self._data is None:
            self._data = _call(*self._path) or {}
        return self._data

    id = property(lambda self: self._load().get('id'))
    index = property(lambda self: self._load().get('index'))
    host_ip = property(lambda self: self._load().get('host_ip'))
    relationships = property(lambda self: [_Relationship(r) for r in self._load().get('relationships') or []])

    @property
    def runtime_properties(self):
        if self._runtime_properties is None:
            path = self._path + ('runtime_properties',)
            self._runtime_properties = _RuntimeProperties(path, _call(*path) or {})
            _dirty_tracked.append(self._runtime_properties)
        return self._runtime_properties

    def update(self, on_conflict=None):
        if self._runtime_properties is not None:
            self._runtime_properties.flush()
        _call(*self._path, 'update')

    def refresh(self, force=False):
        self._data = None
        self._runtime_properties = None


class _End(object):
    """One end of a relationship (ctx.source, ctx.target)."""

    def __init__(self, side):
        self.node = _Node((side, 'node'))
        self.instance = _Instance((side, 'instance'))


class _Value(object):
    """A namespace of plain values read from ctx once (deployment, blueprint, plugin)."""

    def __init__(self, name):
        self._name = name
        self._data = None

    def __getattr__(self, attribute):
        if attribute.startswith('_'):
            raise AttributeError(attribute)
        if self._data is None:
            self._data = _call(self._name) or {}
        if attribute not in self._data:
            raise AttributeError('ctx.%s has no %s' % (self._name, attribute))
        return self._data[attribute]


class _Operation(_Value):
    def __init__(self):
        super().__init__('operation')

    def retry(self, message=None, retry_after=None):
        """Ends the operation when the script ends; it runs again after retry_after seconds."""
        _call('operation', 'retry', message or '', retry_after)


class CloudifyContext(object):
    """What `from cloudify import ctx` gives a script (as Cloudify's: operations may also take it as an argument)."""

    def __init__(self):
        self.logger = CtxLogger('ctx')
        self.node = _Node(('node',))
        self.instance = _Instance(('instance',))
        self.deployment = _Value('deployment')
        self.blueprint = _Value('blueprint')
        self.plugin = _Value('plugin')
        self.operation = _Operation()
        self._source = None
        self._target = None

    @property
    def type(self):
        return _call('type')

    @property
    def execution_id(self):
        return _call('execution_id')

    @property
    def workflow_id(self):
        return _call('workflow_id')

    @property
    def tenant_name(self):
        return _call('tenant_name')

    @property
    def source(self):
        if self._source is None:
            self._source = _End('source')
        return self._source

    @property
    def target(self):
        if self._target is None:
            self._target = _End('target')
        return self._target

    def download_resource(self, resource_path, target_path=None):
        return _call('download_resource', resource_path, target_path)

    def download_resource_and_render(self, resource_path, target_path=None, template_variables=None):
        return _call('download_resource_and_render', resource_path, target_path, template_variables or {})

    def get_resource(self, resource_path):
        return _call('get_resource', resource_path).encode('utf-8')

    def get_resource_and_render(self, resource_path, template_variables=None):
        return _call('get_resource_and_render', resource_path, template_variables or {})

    def send_event(self, event):
        """Cloudify's events go to the operation's log here."""
        self.logger.info(event)

    @property
    def agent(self):
        raise RuntimeError('ctx.agent: Weft runs no agents')

    def returns(self, value):
        _call('returns', value)

    def retry_operation(self, message=None, retry_after=None):
        _call('retry_operation', message or '', retry_after)

    def abort_operation(self, message=None):
        _call('abort_operation', message or '')
