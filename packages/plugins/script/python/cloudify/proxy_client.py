"""Talks to the running operation's ctx endpoint (CTX_SOCKET_URL), with Cloudify's ctx proxy
protocol: POST / with {"args": [...]}, answered with {"type": ..., "payload": ...}."""

import http.client
import json
import os
from urllib.parse import urlsplit


class RequestError(RuntimeError):
    """A ctx call the operation could not answer."""

    def __init__(self, ex_message, ex_type='', ex_traceback=''):
        super().__init__(ex_message)
        self.ex_type = ex_type
        self.ex_message = ex_message
        self.ex_traceback = ex_traceback


def socket_url():
    url = os.environ.get('CTX_SOCKET_URL', '')
    if not url.startswith('http://'):
        raise RuntimeError(
            'CTX_SOCKET_URL is %s; the cloudify module works only inside an operation run by '
            "Weft's script plugin" % (url or 'not set'))
    return url


def _error(payload):
    """The exception Cloudify raises where the call failed this way."""
    kind, message = payload.get('type', ''), payload.get('message', '')
    if kind == 'ConflictError':
        # Cloudify's manager answers a concurrent runtime properties update with 409.
        from cloudify_rest_client.exceptions import CloudifyClientError
        return CloudifyClientError(message, status_code=409, error_code='conflict_error')
    if kind == 'ResourceError':
        from cloudify.exceptions import HttpException
        code = 404 if 'not found' in message else 403 if 'outside' in message else 500
        return HttpException(message.split("'")[1] if message.count("'") >= 2 else '', code, message)
    return RequestError(message, kind, payload.get('traceback', ''))


def request(args, timeout=30):
    """One ctx call: the payload of a result, None when the call stopped the operation. A
    timeout of None waits as long as the answer takes (a workflow waiting for a task)."""
    parts = urlsplit(socket_url())
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        body = json.dumps({'args': list(args)})
        connection.request('POST', parts.path or '/', body, {'Content-Type': 'application/json'})
        answer = json.loads(connection.getresponse().read().decode('utf-8'))
    finally:
        connection.close()
    if answer.get('type') == 'error':
        raise _error(answer.get('payload') or {})
    if answer.get('type') == 'stop_operation':
        return None
    return answer.get('payload')
