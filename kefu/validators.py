"""Validators shared by the apps' models and services."""

import re
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# C0 controls other than tab, line feed and carriage return: invisible, refused by
# Excel files (XLSX) and, for NUL, by PostgreSQL text columns. Imports check cells with it too.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# What a control character becomes in text that is recorded rather than typed (a request
# header) and in messages that quote a text: one character, the one Unicode keeps for this.
REPLACEMENT_CHARACTER = "\ufffd"


def without_control_characters(text: str) -> str:
    """``text`` with each control character replaced by U+FFFD, for text kept as it came (a request's
    headers) or quoted in a message; typed text is refused instead (``validate_no_control_characters``)."""
    return CONTROL_CHARACTERS.sub(REPLACEMENT_CHARACTER, text)


def validate_no_control_characters(value) -> None:
    match = CONTROL_CHARACTERS.search(value or "")
    if match:
        raise ValidationError(
            _("Contains an invisible control character (U+%(code)04X) at position %(position)d; remove it "
              "(it often comes with text pasted from a word processor)."),
            code="control_character",
            params={"code": ord(match.group()), "position": match.start() + 1},
        )


def json_texts(document) -> Iterator[tuple[str, str]]:
    """``(path, text)`` for every object key and string in a JSON document, depth first.

    The path is dotted (``a.b``), a list item adds ``[i]``; the root is "".
    Walked without recursion, so any nesting the JSON parser accepted is fine.
    """
    stack = [("", document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, dict):
            for key, value in reversed(list(node.items())):
                here = f"{path}.{key}" if path else str(key)
                stack.append((here, value))
                stack.append((here, str(key)))
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", value) for index, value in reversed(list(enumerate(node))))


def control_character_in_json(document) -> tuple[str, ValidationError] | None:
    """The first key or string of ``document`` holding a control character: ``(its path, the error)``."""
    for path, text in json_texts(document):
        try:
            validate_no_control_characters(text)
        except ValidationError as exc:
            return without_control_characters(path), exc
    return None
