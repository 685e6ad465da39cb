"""`from cloudify.manager import ...` works, so that a script importing it loads; the calls need
a Cloudify manager, which Weft is not, and say so."""


def _no_manager(name):
    def call(*args, **kwargs):
        raise RuntimeError('cloudify.manager.%s needs a Cloudify manager; Weft has none' % name)
    return call


get_rest_client = _no_manager('get_rest_client')
get_node_instance = _no_manager('get_node_instance')
update_node_instance = _no_manager('update_node_instance')
download_resource = _no_manager('download_resource')
get_resource = _no_manager('get_resource')
