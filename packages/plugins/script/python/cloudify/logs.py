"""The logger of ctx: for operations and workflow scripts alike, records go through the proxy to
the execution's log (Weft's events)."""

import logging

from . import proxy_client


class CtxLogger(logging.Logger):
    """A logger whose records become log events of the operation or workflow that runs."""

    _levels = {logging.DEBUG: 'debug', logging.INFO: 'info', logging.WARNING: 'warning'}

    def __init__(self, name):
        super().__init__(name, logging.DEBUG)

    def handle(self, record):
        level = self._levels.get(record.levelno, 'error' if record.levelno >= logging.ERROR else 'info')
        message = record.getMessage()
        if record.exc_info:
            message += '\n' + logging.Formatter().formatException(record.exc_info)
        proxy_client.request(('logger', level, message))
