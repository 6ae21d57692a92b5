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
        target.write_text(
            "# Development settings written by `make run`; see .env.example for every variable.\n"
            "DJANGO_DEBUG=true\n"
            f"DJANGO_SECRET_KEY={secrets.token_urlsafe(48)}\n"
            f"KEFU_ENCRYPTION_KEYS={generate_key_entry('k1')}\n",
            encoding="utf-8",
        )
        target.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Wrote {target} with a new secret key and encryption key."))
