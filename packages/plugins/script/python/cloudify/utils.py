"""The parts of Cloudify's cloudify.utils that scripts use without a manager."""

import os
import tempfile


def get_exec_tempdir():
    return os.environ.get('CFY_EXEC_TEMP') or tempfile.gettempdir()


def exception_to_error_cause(exception, tb):
    import traceback
    return {
        'message': str(exception),
        'type': type(exception).__name__,
        'traceback': ''.join(traceback.format_tb(tb)) if tb else '',
    }
