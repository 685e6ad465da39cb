"""Runs a workflow script for Weft's script plugin as Cloudify's execute_workflow runs one: as
__main__, with `from cloudify.workflows import ctx` reaching the running workflow. An exception
it raises fails the workflow with its message (the traceback goes to the log)."""

import os
import runpy
import sys

from weft_run_python import print_traceback


def end_with_the_engine():
    """The script dies with the engine that runs it (Linux): after a crash, `weft resume` runs
    it again, and the first run must not go on beside it."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        # Gone already, before that took effect.
        if os.getppid() != int(os.environ.get('WEFT_ENGINE_PID') or os.getppid()):
            os._exit(1)
    except (OSError, AttributeError):
        pass


def main():
    end_with_the_engine()
    script = sys.argv[1]
    # Cloudify's script sees its dispatch directory (input.json) as argv[1].
    sys.argv = sys.argv[1:]
    from cloudify import exceptions, proxy_client

    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit as error:
        if error.code not in (None, 0):
            proxy_client.request(('abort_operation', 'the workflow script exited with %s' % error.code))
        raise
    except BaseException as error:
        print_traceback(error, script)
        known = isinstance(error, (exceptions.NonRecoverableError, exceptions.RecoverableError))
        message = str(error) if known and str(error) else '%s: %s' % (type(error).__name__, error)
        proxy_client.request(('abort_operation', message))
        sys.exit(1)


if __name__ == '__main__':
    main()
