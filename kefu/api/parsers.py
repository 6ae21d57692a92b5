"""The API's JSON parser: DRF's, refusing documents nested too deeply to handle."""

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Far beyond any document kefu stores (a template schema nests a few levels), and
# far below the depth at which parsing, copying or validating a document
# exhausts Python's recursion limit.
MAX_JSON_DEPTH = 64


def json_too_deep(document, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether lists and objects in ``document`` nest more than ``limit`` levels (walked without recursion)."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def too_deep_message() -> str:
    return _("The JSON nests more than %(n)d levels deep.") % {"n": MAX_JSON_DEPTH}


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:  # json.load gives up on very deep nesting this way, not with a ValueError
            raise ParseError(too_deep_message()) from None
        if json_too_deep(data):
            raise ParseError(too_deep_message())
        return data
