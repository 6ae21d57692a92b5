from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from configs.exceptions import ConfigError
from configs.transfer import configs_import
from kefu import transfer


class _DryRun(Exception):
    pass


class Command(BaseCommand):
    help = ("Create or update configs from a config_export file; every change is validated and recorded in "
            "history (reason \"import\"); entries equal to what is here change nothing. Every bad entry is named "
            "and then nothing is imported. Secrets are imported only with --with-secrets and a matching key. A time "
            "without a UTC offset (expires_at) is read as UTC.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="The export file, or - for standard input.")
        parser.add_argument("--with-secrets", action="store_true",
                            help="Import the encrypted secrets the file carries (needs the key that wrote them).")
        parser.add_argument("--actor", help=("Username the changes are made as: recorded as their author, and "
                                             "limited to the configs that person may create and change (default: "
                                             "none, the system)."))
        parser.add_argument("--dry-run", action="store_true", help="Check everything, then roll back.")

    def handle(self, *args, path, with_secrets=False, actor=None, dry_run=False, **options):
        person = None
        if actor:
            person = get_user_model().objects.filter(username=actor).first()
            if person is None:
                raise CommandError(f"No user '{actor}'.")
        try:
            data = transfer.read_input(path, error=ConfigError)
            with transaction.atomic():
                report = configs_import(data=data, actor=person, with_secrets=with_secrets)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        except ConfigError as exc:
            for problem in (exc.detail if isinstance(exc.detail, list) else [])[1:]:
                if "row" in problem:
                    self.stderr.write(transfer.problem_line(problem))
            raise CommandError(f"Nothing imported: {exc.message}") from None
        self.stdout.write(("Dry run, rolled back. " if dry_run else "Imported. ") + report.summary())
