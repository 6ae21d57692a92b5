"""What HTTP can carry in a config's API key and extra headers.

httpx refuses a header with a line break or a control character ("Illegal header value
b'<the value>'") and cannot encode one with non-ASCII text; either error would carry the
secret into error texts. So configs refuse them when saved (model, API, admin form), and the
provider clients check again before a call (rows saved before this rule).
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+\Z")  # an RFC 9110 token
HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*\Z")  # visible ASCII, space and tab


def shown_name(name) -> str:
    """A header name as messages may show it: escaped (a line break shows as \\n), never too long."""
    return ascii(str(name))[:80]


def bad_header(headers) -> str | None:
    """The shown name of the first header HTTP cannot carry (bad name or value), else None."""
    for name, value in (headers or {}).items():
        if not (isinstance(name, str) and HEADER_NAME.match(name)):
            return shown_name(name)
        if not (isinstance(value, str) and HEADER_VALUE.match(value)):
            return shown_name(name)
    return None


def validate_extra_headers(value) -> None:
    """An object of header name → text value that HTTP can carry. Messages name the header, never its value."""
    if value is None:
        return
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError(_("An object of header name → text value."), code="invalid")
    for name, text in value.items():
        if not HEADER_NAME.match(name):
            raise ValidationError(
                _("The header name %(name)s may hold only ASCII letters, digits and !#$%%&'*+-.^_`|~."),
                code="header_name", params={"name": shown_name(name)},
            )
        if not HEADER_VALUE.match(text):
            raise ValidationError(
                _("The value of header %(name)s holds a line break, a control character or non-ASCII text, which "
                  "HTTP headers cannot carry."),
                code="header_value", params={"name": shown_name(name)},
            )


# Provider keys are well under 200 characters; the API's field allows 500.
API_KEY_MAX_LENGTH = 500


def validate_api_key(value) -> None:
    """An API key travels in a header too: the same characters only (the message never shows the key)."""
    if value and len(value) > API_KEY_MAX_LENGTH:
        raise ValidationError(
            _("An API key is at most %(limit)d characters; this looks like something else was pasted.")
            % {"limit": API_KEY_MAX_LENGTH},
            code="api_key_length",
        )
    if value and not HEADER_VALUE.match(value):
        raise ValidationError(
            _("The API key holds a line break, a control character or non-ASCII text; paste it again."),
            code="api_key_characters",
        )
