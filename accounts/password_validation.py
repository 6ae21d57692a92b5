"""Password validators: Django's, with messages that reach the Chinese catalogue."""

from django.contrib.auth import password_validation
from django.utils.translation import ngettext


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's minimum length check. Django 5.2 reworded its message ("%d" instead of
    "%(min_length)d") and its zh_Hans catalogue still translates only the old wording,
    so the message came out in English in the middle of Chinese ones."""

    def get_error_message(self):
        return ngettext(
            "This password is too short. It must contain at least %(min_length)d character.",
            "This password is too short. It must contain at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}
