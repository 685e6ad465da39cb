"""Runs a Python script for Weft's script plugin as Cloudify runs one: errors it raises decide
how the operation ends (NonRecoverableError fails it at once, OperationRetry retries it,
anything else is a recoverable failure)."""

import runpy
import sys
import traceback


def print_traceback(error, script):
    """The traceback from the script's own frames on (this runner's and runpy's left out)."""
    frames = error.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename != script:
        frames = frames.tb_next
    traceback.print_exception(type(error), error, frames or error.__traceback__)


def main():
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    from cloudify import exceptions, proxy_client

    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit:
        raise
    except exceptions.OperationRetry as error:
        proxy_client.request(('operation', 'retry', str(error), error.retry_after))
    except exceptions.NonRecoverableError as error:
        print_traceback(error, script)
        proxy_client.request(('abort_operation', str(error) or type(error).__name__))
        sys.exit(1)
    except exceptions.RecoverableError as error:
        print_traceback(error, script)
        proxy_client.request(('_recoverable', str(error) or type(error).__name__, error.retry_after))
        sys.exit(1)
    except BaseException as error:
        print_traceback(error, script)
        sys.exit(1)


if __name__ == '__main__':
    main()
