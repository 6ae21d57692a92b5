"""The one exception family services raise; the API renders it as coded JSON."""


class KefuError(Exception):
    """A refused operation: ``code`` is stable for programs, ``message`` is for people."""

    code = "error"
    status_code = 400

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None, detail=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.detail = detail


class NotFound(KefuError):
    code = "not_found"
    status_code = 404


class Conflict(KefuError):
    code = "conflict"
    status_code = 409


class PermissionDenied(KefuError):
    code = "permission_denied"
    status_code = 403
