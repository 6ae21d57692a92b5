"""One machine, embedded defaults: what `make run` uses."""

from .base import *  # noqa: F403
from .base import env

# `make run` is what a seller runs for real: debug pages show tracebacks and settings.
# A developer who wants them sets DJANGO_DEBUG=true themselves.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="kefu-local-development-only-not-secret")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
