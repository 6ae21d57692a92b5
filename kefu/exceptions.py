"""The one exception family services raise; the API renders it as coded JSON.

A Django ``ValidationError`` (``full_clean``, a validator) becomes one of these through
``KefuError.from_validation_error`` (or ``full_clean`` below), the one place its messages
are flattened: every message kept, each with the field it belongs to.
"""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Every message of ``exc`` as ``(field, message)``; the field is "" for the object as a whole."""
    if hasattr(exc, "error_dict"):
        return [("" if name == NON_FIELD_ERRORS else name, message)
                for name, messages in exc.message_dict.items() for message in messages]
    return [("", message) for message in exc.messages]


def problems_text(problems: list[tuple[str, str]]) -> str:
    """``field: message. other: message`` — one line naming every problem, for people (a message
    that ends no sentence gets a ``;`` after it)."""
    text = ""
    for name, message in problems:
        if text:
            text += " " if text.endswith((".", "。", "!", "！", "?", "？")) else "; "
        text += f"{name}: {message}" if name else message
    return text


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

    @classmethod
    def problems_detail(cls, problems: list[tuple[str, str]]):
        """``detail`` for ``problems``: ``{field: [messages]}``, the shape DRF gives a refused form
        (the object's own problems under ``__all__``). A family whose details name paths overrides it."""
        detail: dict[str, list[str]] = {}
        for name, message in problems:
            detail.setdefault(name or NON_FIELD_ERRORS, []).append(message)
        return detail

    @classmethod
    def from_validation_error(cls, exc: ValidationError, *, field: str = "", message: str | None = None,
                              code: str | None = None, status_code: int | None = None, detail=None) -> "KefuError":
        """This family's error for a Django ``ValidationError``.

        ``field`` names what was validated when ``exc`` speaks of a single value (a validator's
        error); the message names every problem unless ``message`` is given; ``detail``
        defaults to ``problems_detail`` of the problems.
        """
        problems = [(name or field, text) for name, text in validation_problems(exc)]
        return cls(message or problems_text(problems), code=code, status_code=status_code,
                   detail=cls.problems_detail(problems) if detail is None else detail)


def full_clean(instance, *, error: type[KefuError] = KefuError, code: str | None = None, **kwargs) -> None:
    """``instance.full_clean(**kwargs)``, a refusal raised as ``error`` (see ``from_validation_error``)."""
    try:
        instance.full_clean(**kwargs)
    except ValidationError as exc:
        raise error.from_validation_error(exc, code=code) from None


class NotFound(KefuError):
    code = "not_found"
    status_code = 404


class Conflict(KefuError):
    code = "conflict"
    status_code = 409


class PermissionDenied(KefuError):
    code = "permission_denied"
    status_code = 403
