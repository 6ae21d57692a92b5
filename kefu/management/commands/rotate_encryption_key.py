from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.module_loading import import_string

from kefu import crypto
from kefu.fields import StoredCiphertext, encrypted_fields
from kefu.progress import Progress, add_progress_argument


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value with the first key of KEFU_ENCRYPTION_KEYS. Works in batches and "
        "skips values already under that key, so an interrupted run resumes where it stopped. When it reports "
        "nothing left under old keys, those keys can be removed from KEFU_ENCRYPTION_KEYS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true", help="count what would be re-encrypted")
        add_progress_argument(parser)

    def handle(self, *args, batch_size, dry_run, no_progress, **options):
        try:
            current = crypto.keyring().current_id
        except Exception as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Current key: {current}")
        total_done, failures = 0, []
        progress = Progress.for_command(self, quiet=no_progress)
        for model, field in encrypted_fields():
            manager = model._base_manager
            stale = manager.filter(**{f"{field.attname}__startswith": f"{crypto.PREFIX}:"}).exclude(
                **{f"{field.attname}__startswith": f"{crypto.PREFIX}:{current}:"}
            )
            count = stale.count()
            label = f"{model._meta.label}.{field.name}"
            if not count:
                self.stdout.write(f"{label}: all values under {current}")
                continue
            if dry_run:
                self.stdout.write(f"{label}: {count} value(s) to re-encrypt")
                continue
            last_pk = None
            with progress:
                while True:
                    batch = stale.order_by("pk")
                    if last_pk is not None:
                        batch = batch.filter(pk__gt=last_pk)
                    rows = list(batch.values_list("pk", field.attname)[:batch_size])
                    if not rows:
                        break
                    with transaction.atomic():
                        for pk, ciphertext in rows:
                            last_pk = pk
                            try:
                                plain = crypto.decrypt(ciphertext, context=field.context)
                            except crypto.DecryptionError as exc:
                                failures.append(f"{model._meta.label} #{pk}, field '{field.name}': {exc}")
                                continue
                            manager.filter(pk=pk, **{field.attname: ciphertext}).update(
                                **{field.attname: StoredCiphertext(crypto.encrypt(plain, context=field.context))}
                            )
                            total_done += 1
                    progress.advance(label, len(rows), total=count)
        for app_config in apps.get_app_configs():
            rotator = getattr(app_config, "encrypted_value_rotator", None)
            if not rotator:
                continue
            try:
                counts = import_string(rotator)(dry_run=dry_run)
            except crypto.DecryptionError as exc:
                failures.append(f"{app_config.label}: {exc}")
                continue
            summary = ", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in counts.items())
            self.stdout.write(f"{app_config.label} secrets inside documents — {summary}")
            total_done += 0 if dry_run else sum(counts.values())
        for failure in failures:
            self.stderr.write(self.style.ERROR(f"cannot re-encrypt {failure}"))
        if dry_run:
            return
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total_done} value(s) with key {current}."))
        if failures:
            raise CommandError(f"{len(failures)} value(s) could not be decrypted; they were left as they are.")
