from django.core.management.base import BaseCommand, CommandError

from configs.services import secrets_reencrypt
from kefu import crypto
from kefu.progress import Progress, add_progress_argument


class Command(BaseCommand):
    help = ("Re-encrypt config secrets (inside config values, history snapshots and encrypted system configs) "
            "with the first key of KEFU_ENCRYPTION_KEYS. Run it with rotate_encryption_key, before removing "
            "an old key.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted.")
        add_progress_argument(parser)

    def handle(self, *args, dry_run=False, no_progress=False, **options):
        try:
            with Progress.for_command(self, quiet=no_progress) as progress:
                counts = secrets_reencrypt(dry_run=dry_run, progress=progress.advance)
        except crypto.DecryptionError as exc:
            raise CommandError(f"A config secret cannot be decrypted: {exc}") from None
        summary = ", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in counts.items())
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(f"{verb} under key {crypto.keyring().current_id}: {summary}.")
