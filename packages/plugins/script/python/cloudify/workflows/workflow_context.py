"""The running workflow's ctx for workflow scripts, with Cloudify's names (CloudifyWorkflowContext):
nodes and instances, execute_operation, set_state, send_event and graph mode. What a script
asks for becomes a task of its execution, run by Weft as any other: durably, retried, with
events. Outside graph mode a task starts when it is asked for; `.get()` waits for its result
(and raises when it failed). In graph mode tasks start when the graph is executed."""


from .. import proxy_client
from ..logs import CtxLogger
from ..exceptions import NonRecoverableError
from ..state import MissingInput

_UNSET = object()


def _call(*args, **kwargs):
    return proxy_client.request(args, **kwargs)



class WorkflowTask(object):
    """A task the workflow asked for: an operation, a state change or an event. It is also its
    own async result (Cloudify's WorkflowTaskResult): `.get()` waits for it."""

    def __init__(self, workflow_ctx, request, name):
        self.workflow_context = workflow_ctx
        self._request = request
        self.name = name
        self.id = None
        self._submitted = False
        self._result = _UNSET

    def __repr__(self):
        return '<WorkflowTask %s>' % self.name

    @property
    def async_result(self):
        return self

    def is_nop(self):
        return self._submitted and self.id is None

    def apply_async(self):
        if not self._submitted:
            self.workflow_context._submit([self])
        return self

    def get(self):
        """The task's result, once it has ended; raises NonRecoverableError when it failed."""
        if not self._submitted:
            raise RuntimeError(
                '%s has not been executed: add it to the graph and execute the graph first' % self.name)
        if self.id is None:
            return None
        if self._result is _UNSET:
            # Waits as long as the task takes.
            self._result = _call('_workflow', 'wait', self.id, timeout=None)
        if not self._result.get('ok'):
            raise NonRecoverableError(self._result.get('message'))
        return self._result.get('result')


class _RelationshipInstance(object):
    def __init__(self, workflow_ctx, source, data):
        self._ctx = workflow_ctx
        self.node_instance = source
        self.source_id = source.id
        self.type = data.get('type')
        self.type_hierarchy = data.get('type_hierarchy') or []
        self.target_id = data.get('target_id')
        self.target_name = data.get('target_name')
        self._index = data.get('index')

    def __repr__(self):
        return '<CloudifyWorkflowRelationshipInstance %s -> %s>' % (self.source_id, self.target_id)

    @property
    def target_node_instance(self):
        return self._ctx.get_node_instance(self.target_id)

    def is_derived_from(self, other):
        return other in self.type_hierarchy

    def execute_source_operation(self, operation, kwargs=None, allow_kwargs_override=False,
                                 send_task_events=True):
        return self._execute(operation, 'source', kwargs, allow_kwargs_override)

    def execute_target_operation(self, operation, kwargs=None, allow_kwargs_override=False,
                                 send_task_events=True):
        return self._execute(operation, 'target', kwargs, allow_kwargs_override)

    def _execute(self, operation, side, kwargs, allow_kwargs_override):
        return self._ctx._task({
            'kind': 'operation',
            'instance_id': self.source_id,
            'operation': operation,
            'relationship': {'index': self._index, 'side': side},
            'kwargs': kwargs or {},
            'allow_kwargs_override': bool(allow_kwargs_override),
        }, '%s on %s -> %s (%s)' % (operation, self.source_id, self.target_id, side))


class CloudifyWorkflowNodeInstance(object):
    def __init__(self, workflow_ctx, node, data):
        self.ctx = workflow_ctx
        self._node = node
        self._data = data
        self._logger = None

    def __eq__(self, other):
        return isinstance(other, CloudifyWorkflowNodeInstance) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return '<CloudifyWorkflowNodeInstance %s (%s)>' % (self.id, self.state)

    id = property(lambda self: self._data.get('id'))
    node_id = property(lambda self: self._data.get('node_id'))
    state = property(lambda self: self._data.get('state'))
    version = property(lambda self: self._data.get('version'))
    host_id = property(lambda self: self._data.get('host_id'))
    node = property(lambda self: self._node)
    deployment_id = property(lambda self: self.ctx.deployment.id)
    modification = None
    scaling_groups = property(lambda self: [])
    system_properties = property(lambda self: {})

    @property
    def runtime_properties(self):
        """As the workflow started (or was last refreshed): refresh_node_instances() reads them again."""
        return self._data.get('runtime_properties') or {}

    @property
    def relationships(self):
        return iter([_RelationshipInstance(self.ctx, self, r) for r in self._data.get('relationships') or []])

    @property
    def contained_instances(self):
        return [
            i for i in self.ctx.node_instances
            if any(r.target_id == self.id and r.is_derived_from('cloudify.relationships.contained_in')
                   for r in i.relationships)
        ]

    @property
    def logger(self):
        if self._logger is None:
            self._logger = CtxLogger('%s-%s' % (self.ctx.execution_id, self.id))
        return self._logger

    def execute_operation(self, operation, kwargs=None, allow_kwargs_override=False, send_task_events=True):
        """Runs one of the instance's operations (a no-op when the node has none by that name)."""
        return self.ctx._task({
            'kind': 'operation',
            'instance_id': self.id,
            'operation': operation,
            'kwargs': kwargs or {},
            'allow_kwargs_override': bool(allow_kwargs_override),
        }, '%s on %s' % (operation, self.id))

    def set_state(self, state):
        return self.ctx._task({'kind': 'state', 'instance_id': self.id, 'state': state},
                              'set state of %s to %s' % (self.id, state))

    def send_event(self, event, additional_context=None):
        return self.ctx._task({
            'kind': 'event',
            'instance_id': self.id,
            'message': str(event),
            'event_type': 'workflow_node_event',
        }, 'event on %s' % self.id)


class CloudifyWorkflowNode(object):
    def __init__(self, workflow_ctx, data):
        self.ctx = workflow_ctx
        self._data = data
        self._instances = [CloudifyWorkflowNodeInstance(workflow_ctx, self, i) for i in data.get('instances') or []]

    def __repr__(self):
        return '<CloudifyWorkflowNode %s>' % self.id

    id = property(lambda self: self._data.get('id'))
    type = property(lambda self: self._data.get('type'))
    type_hierarchy = property(lambda self: self._data.get('type_hierarchy') or [])
    properties = property(lambda self: self._data.get('properties') or {})
    number_of_instances = property(lambda self: len(self._instances))

    @property
    def instances(self):
        return iter(self._instances)

    @property
    def operations(self):
        return dict((name, {'operation': name}) for name in self._data.get('operations') or [])

    def has_operation(self, operation):
        return any(name == operation or name.endswith('.' + operation) for name in self.operations)


class _Plain(object):
    def __init__(self, **values):
        self.__dict__.update(values)


class forkjoin(object):
    """Tasks that run side by side inside a sequence."""

    def __init__(self, *tasks):
        self.tasks = tasks


class TaskSequence(object):
    """Adds tasks to a graph one after another (forkjoin: a group side by side)."""

    def __init__(self, graph):
        self.graph = graph
        self._last = None

    def add(self, *tasks):
        for item in tasks:
            group = list(item.tasks) if isinstance(item, forkjoin) else [item]
            for task in group:
                self.graph.add_task(task)
                for before in self._last or []:
                    self.graph.add_dependency(task, before)
            if group:
                self._last = group


class TaskDependencyGraph(object):
    """Cloudify's graph of tasks: add tasks and dependencies, then execute() runs them all,
    each after what it depends on, and waits for them. A task whose dependency failed does not
    run; execute() then raises naming the failed tasks."""

    def __init__(self, workflow_ctx, name=None, parent=None):
        self.ctx = workflow_ctx
        self.name = name
        self._parent = parent
        self._tasks = []
        self._dependencies = {}
        self.id = name

    @property
    def tasks(self):
        return iter(self._tasks)

    def add_task(self, task):
        if task not in self._tasks:
            self._tasks.append(task)
            self._dependencies.setdefault(task, [])
        return task

    def get_task(self, task_id):
        return next((t for t in self._tasks if t.id == task_id), None)

    def remove_task(self, task):
        if task in self._tasks:
            self._tasks.remove(task)
        self._dependencies.pop(task, None)
        for dependencies in self._dependencies.values():
            while task in dependencies:
                dependencies.remove(task)

    def add_dependency(self, src_task, dst_task):
        """src_task runs after dst_task."""
        for task in (src_task, dst_task):
            if task not in self._tasks:
                raise RuntimeError('%s is not in the graph' % (task,))
        if dst_task not in self._dependencies[src_task]:
            self._dependencies[src_task].append(dst_task)

    def remove_dependency(self, src_task, dst_task):
        if dst_task in self._dependencies.get(src_task, []):
            self._dependencies[src_task].remove(dst_task)

    def contains_dependency(self, src_task, dst_task):
        return dst_task in self._dependencies.get(src_task, [])

    def sequence(self):
        return TaskSequence(self)

    def subgraph(self, name):
        """A group of tasks that is one task of this graph: what depends on it waits for all of them."""
        return self.add_task(TaskDependencyGraph(self.ctx, name, self))

    def is_subgraph(self):
        return self._parent is not None

    def _leaves(self):
        for task in self._tasks:
            if isinstance(task, TaskDependencyGraph):
                for leaf in task._leaves():
                    yield leaf
            else:
                yield task

    def _flatten(self, dependencies):
        """Every leaf task with the leaf tasks it waits for (a subgraph's dependencies reach its tasks)."""
        for task in self._tasks:
            waits = []
            for dst in self._dependencies.get(task, []):
                waits.extend(dst._leaves() if isinstance(dst, TaskDependencyGraph) else [dst])
            if isinstance(task, TaskDependencyGraph):
                for leaf in task._leaves():
                    dependencies.setdefault(leaf, []).extend(waits)
                task._flatten(dependencies)
            else:
                dependencies.setdefault(task, []).extend(waits)
        return dependencies

    def execute(self):
        if self._parent is not None:
            raise RuntimeError('a subgraph runs with the graph it belongs to')
        dependencies = self._flatten({})
        order = []
        placed = set()
        pending = list(self._leaves())
        while pending:
            ready = [t for t in pending if all(d in placed for d in dependencies.get(t, []))]
            if not ready:
                raise RuntimeError('the graph has a dependency cycle among: %s' % ', '.join(t.name for t in pending))
            for task in ready:
                order.append(task)
                placed.add(task)
            pending = [t for t in pending if t not in placed]
        index = dict((task, i) for i, task in enumerate(order))
        self.ctx._submit(order, dict((t, [index[d] for d in dependencies.get(t, [])]) for t in order))
        failed = []
        for task in order:
            try:
                task.get()
            except NonRecoverableError as error:
                failed.append("Task failed '%s' -> %s" % (task.name, error))
        if failed:
            raise RuntimeError('Workflow failed: %s' % '; '.join(failed))


class CloudifyWorkflowContext(object):
    """What `from cloudify.workflows import ctx` gives a workflow script."""

    def __init__(self):
        self._data = None
        self._nodes = None
        self._graph = None
        self._submitted_any = False
        self.logger = CtxLogger('workflow')
        self.internal = _Plain(graph_mode=False, handler=None)

    def _load(self):
        if self._data is None:
            self._data = _call('_workflow', 'context') or {}
            self._set_nodes(self._data.get('nodes') or [])
        return self._data

    def _set_nodes(self, nodes):
        self._nodes = [CloudifyWorkflowNode(self, n) for n in nodes]

    # What the workflow runs in
    deployment = property(lambda self: _Plain(id=self._load().get('deployment_id')))
    blueprint = property(lambda self: _Plain(id=self._load().get('blueprint_id')))
    execution_id = property(lambda self: self._load().get('execution_id'))
    workflow_id = property(lambda self: self._load().get('workflow_id'))
    tenant_name = 'default_tenant'
    tenant = property(lambda self: {'name': 'default_tenant'})
    local = True
    dry_run = False
    resume = False

    @property
    def nodes(self):
        self._load()
        return iter(self._nodes)

    @property
    def node_instances(self):
        self._load()
        return iter([i for node in self._nodes for i in node._instances])

    def get_node(self, node_id):
        self._load()
        return next((n for n in self._nodes if n.id == node_id), None)

    def get_node_instance(self, node_instance_id):
        return next((i for i in self.node_instances if i.id == node_instance_id), None)

    def refresh_node_instances(self):
        self._load()
        self._set_nodes(_call('_workflow', 'nodes') or [])

    def update_node_instance(self, node_instance_id, state=None, runtime_properties=None, version=None,
                             **_):
        """Writes an instance now: its runtime properties (all of them) and/or its state; with
        version, only if nobody changed it since (else a CloudifyClientError with status 409)."""
        version = _call('_workflow', 'update_instance', node_instance_id, runtime_properties, state, version)
        instance = self.get_node_instance(node_instance_id)
        if instance is not None:
            if runtime_properties is not None:
                instance._data['runtime_properties'] = runtime_properties
            if state is not None:
                instance._data['state'] = state
            instance._data['version'] = version
        return instance

    def send_event(self, event, event_type='workflow_stage', args=None, additional_context=None):
        return self._task({'kind': 'event', 'message': str(event), 'event_type': event_type},
                          'event %s' % event_type)

    def returns(self, value):
        _call('returns', value)

    def graph_mode(self):
        """From now on tasks wait to be added to the returned graph and run by its execute()."""
        if self._submitted_any:
            raise RuntimeError('Cannot switch to graph mode when tasks have already been executed')
        self.internal.graph_mode = True
        if self._graph is None:
            self._graph = TaskDependencyGraph(self)
        return self._graph

    def _task(self, request, name):
        task = WorkflowTask(self, request, name)
        if not self.internal.graph_mode:
            self._submit([task])
        return task

    def _submit(self, tasks, dependencies=None):
        requests = []
        for task in tasks:
            request = dict(task._request)
            request['depends_on'] = (dependencies or {}).get(task, [])
            requests.append(request)
        ids = _call('_workflow', 'submit', requests)
        self._submitted_any = True
        for task, task_id in zip(tasks, ids):
            task.id = task_id
            task._submitted = True


class _Parameters(dict):
    """The workflow's parameters, by key or by attribute (Cloudify's CtxParameters), read on first use."""

    def __init__(self):
        super().__init__()
        self._loaded = False

    def _load(self):
        if not self._loaded:
            self._loaded = True
            dict.update(self, ctx._load().get('parameters') or {})
        return self

    def __getitem__(self, key):
        return dict.__getitem__(self._load(), key)

    def __contains__(self, key):
        return dict.__contains__(self._load(), key)

    def __iter__(self):
        return dict.__iter__(self._load())

    def __len__(self):
        return dict.__len__(self._load())

    def __repr__(self):
        return dict.__repr__(self._load())

    def get(self, key, default=None):
        return dict.get(self._load(), key, default)

    def keys(self):
        return dict.keys(self._load())

    def values(self):
        return dict.values(self._load())

    def items(self):
        return dict.items(self._load())

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        values = self._load()
        if name not in values:
            raise MissingInput(name)
        return dict.__getitem__(values, name)


ctx = CloudifyWorkflowContext()
parameters = _Parameters()
