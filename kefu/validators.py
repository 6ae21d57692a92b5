"""Validators shared by the apps' models and services."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# C0 controls other than tab, line feed and carriage return: invisible, refused by
# Excel files (XLSX) and, for NUL, by PostgreSQL text columns. Imports check cells with it too.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def validate_no_control_characters(value) -> None:
    match = CONTROL_CHARACTERS.search(value or "")
    if match:
        raise ValidationError(
            _("Contains an invisible control character (U+%(code)04X) at position %(position)d; remove it "
              "(it often comes with text pasted from a word processor)."),
            code="control_character",
            params={"code": ord(match.group()), "position": match.start() + 1},
        )
