import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from kefu.crypto import generate_key_entry

HEADER = "# Development settings written by `make run`; see .env.example for every variable."
# What earlier versions wrote on the line after HEADER: debug pages for everyone who ran `make run`.
WRITTEN_DEBUG = "DJANGO_DEBUG=true"


class Command(BaseCommand):
    help = "Write a development .env with a fresh secret key and encryption key, if there is none."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=str(Path(settings.BASE_DIR) / ".env"))

    def handle(self, *args, path, **options):
        target = Path(path)
        if target.exists():
            if self._drop_written_debug(target):
                self.stdout.write(self.style.WARNING(
                    f"Removed DJANGO_DEBUG=true, which an earlier `make run` wrote, from {target}: kefu no longer "
                    "runs in debug mode unless you ask for it."))
            else:
                self.stdout.write(f".env already exists at {target}; left unchanged.")
            return
        # A key id of its own: a .env written again later gets a new key under a new id, so
        # values under the old key are reported as unreadable instead of as "altered".
        key_id = f"k{secrets.token_hex(3)}"
        content = (
            f"{HEADER}\n"
            f"DJANGO_SECRET_KEY={secrets.token_urlsafe(48)}\n"
            f"KEFU_ENCRYPTION_KEYS={generate_key_entry(key_id)}\n"
        )
        # Created readable by its owner only, never for a moment by anyone else.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
            fh.write(content)
        self.stdout.write(self.style.SUCCESS(f"Wrote {target} with a new secret key and encryption key."))

    def _drop_written_debug(self, target: Path) -> bool:
        """Take out the debug line this command once wrote itself (right under its header); touch nothing else.

        A developer who wants debug pages sets DJANGO_DEBUG elsewhere in the file or in the environment.
        """
        lines = target.read_text(encoding="utf-8").split("\n")
        if len(lines) < 2 or lines[0] != HEADER or lines[1] != WRITTEN_DEBUG:
            return False
        target.write_text("\n".join([lines[0], *lines[2:]]), encoding="utf-8")
        return True
