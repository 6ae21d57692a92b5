import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from kefu.crypto import generate_key_entry


class Command(BaseCommand):
    help = "Write a development .env with a fresh secret key and encryption key, if there is none."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=str(Path(settings.BASE_DIR) / ".env"))

    def handle(self, *args, path, **options):
        target = Path(path)
        if target.exists():
            self.stdout.write(f".env already exists at {target}; left unchanged.")
            return
        # A key id of its own: a .env written again later gets a new key under a new id, so
        # values under the old key are reported as unreadable instead of as "altered".
        key_id = f"k{secrets.token_hex(3)}"
        content = (
            "# Development settings written by `make run`; see .env.example for every variable.\n"
            "DJANGO_DEBUG=true\n"
            f"DJANGO_SECRET_KEY={secrets.token_urlsafe(48)}\n"
            f"KEFU_ENCRYPTION_KEYS={generate_key_entry(key_id)}\n"
        )
        # Created readable by its owner only, never for a moment by anyone else.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
            fh.write(content)
        self.stdout.write(self.style.SUCCESS(f"Wrote {target} with a new secret key and encryption key."))
