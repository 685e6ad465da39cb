"""The errors of Cloudify's REST client that scripts catch."""


class CloudifyClientError(Exception):
    """A failed manager request: status_code is its HTTP status (409 for a conflict)."""

    def __init__(self, message, server_traceback=None, status_code=-1, error_code=None, response=None):
        super().__init__(message)
        self.message = message
        self.server_traceback = server_traceback
        self.status_code = status_code
        self.error_code = error_code
        self.response = response

    def __str__(self):
        if self.status_code != -1:
            return '{0}: {1}'.format(self.status_code, self.message)
        return self.message


class UserUnauthorizedError(CloudifyClientError):
    ERROR_CODE = 'unauthorized_error'


class ForbiddenError(CloudifyClientError):
    ERROR_CODE = 'forbidden_error'


class NotModifiedError(CloudifyClientError):
    ERROR_CODE = 'not_modified'


class MaintenanceModeActiveError(CloudifyClientError):
    ERROR_CODE = 'maintenance_mode_active'
