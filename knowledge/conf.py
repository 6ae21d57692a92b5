"""Knowledge settings: a Django setting wins, then the environment, then the default."""

import os

from django.conf import settings


def knowledge_setting(name: str, default):
    if hasattr(settings, name):
        return getattr(settings, name)
    return os.environ.get(name, default)
