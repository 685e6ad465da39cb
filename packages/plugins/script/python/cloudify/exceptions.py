"""The errors a Cloudify operation raises, for scripts run by Weft's script plugin."""


class NonRecoverableError(Exception):
    """Fails the operation at once: no retry."""

    def __init__(self, *args, **kwargs):
        self.causes = kwargs.pop('causes', [])
        super().__init__(*args)


class RecoverableError(Exception):
    """Fails this attempt: the operation is retried (after retry_after seconds when given)."""

    def __init__(self, message='', retry_after=None, causes=None, **kwargs):
        super().__init__(message)
        self.retry_after = retry_after
        self.causes = causes or []


class OperationRetry(RecoverableError):
    """Ends the operation now; it runs again later."""


class HttpException(NonRecoverableError):
    """A resource could not be fetched (Cloudify: from the manager's file server)."""

    def __init__(self, url, code, message, causes=None, **kwargs):
        self.url = url
        self.code = code
        self.message = message
        super().__init__(str(self), causes=causes or [])

    def __str__(self):
        return '{0} ({1}) : {2}'.format(self.code, self.url, self.message)


class ProcessException(Exception):
    def __init__(self, message='', command=None, exit_code=None, stdout=None, stderr=None):
        super().__init__(message)
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class CommandExecutionException(Exception):
    def __init__(self, command, error, output, code):
        super().__init__('command %r failed with code %s: %s' % (command, code, error))
        self.command = command
        self.error = error
        self.output = output
        self.code = code
