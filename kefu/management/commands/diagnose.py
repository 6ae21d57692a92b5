from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.utils.module_loading import import_string

from kefu import crypto
from kefu.fields import encrypted_fields
from kefu.health import CheckResult, run_service_checks


def check_migrations() -> CheckResult:
    try:
        executor = MigrationExecutor(connections["default"])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return CheckResult("migrations", False, f"{type(exc).__name__}: {exc}")
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        return CheckResult("migrations", False, f"{len(pending)} not applied ({names}…): run manage.py migrate")
    return CheckResult("migrations", True, "all applied")


# Values per field and key id that diagnose decrypts to prove the key is the one they were written with.
DECRYPT_SAMPLE = 3


def check_encryption() -> CheckResult:
    try:
        ring = crypto.keyring()
        probe = crypto.encrypt("diagnose", context="kefu.diagnose")
        assert crypto.decrypt(probe, context="kefu.diagnose") == "diagnose"
    except Exception as exc:
        return CheckResult("encryption", False, str(exc))
    unreadable, old_key, replaced = 0, 0, []
    for model, field in encrypted_fields():
        tried: dict[str, int] = {}  # key id -> values of this field test-decrypted
        try:
            values = model._base_manager.exclude(**{field.attname: ""}).values_list(field.attname, flat=True)
            for value in values.iterator():
                if not value:
                    continue
                key_id = crypto.key_id_of(value)
                if key_id not in ring.keys:
                    unreadable += 1
                    continue
                if key_id != ring.current_id:
                    old_key += 1
                # A key replaced under the same id is only found by decrypting: try a few per key.
                if tried.get(key_id, 0) < DECRYPT_SAMPLE:
                    tried[key_id] = tried.get(key_id, 0) + 1
                    try:
                        crypto.decrypt(value, context=field.context)
                    except crypto.DecryptionError:
                        replaced.append(f"{model._meta.label}.{field.name} under {key_id}")
        except Exception as exc:  # table missing before migrate
            return CheckResult("encryption", False, f"{model._meta.label}: {exc}")
    if unreadable:
        return CheckResult("encryption", False, f"{unreadable} value(s) under keys that KEFU_ENCRYPTION_KEYS lacks")
    if replaced:
        return CheckResult("encryption", False, (
            f"values that the configured key cannot decrypt: {', '.join(sorted(set(replaced)))} — the key with "
            "that id was replaced (restore the old key) or the values were altered"
        ))
    note = f"; {old_key} value(s) under older keys (run rotate_encryption_key)" if old_key else ""
    return CheckResult("encryption", True, f"keys {', '.join(ring.keys)}; current {ring.current_id}{note}")


def check_static() -> CheckResult:
    if finders.find("admin/css/base.css") is None:
        return CheckResult("static files", False, "admin static files not found")
    root = settings.STATIC_ROOT
    if not settings.DEBUG and not (root and (root / "admin" / "css" / "base.css").exists()):
        return CheckResult("static files", False, f"not collected into {root}: run manage.py collectstatic")
    return CheckResult("static files", True, f"served from {root}" if not settings.DEBUG else "served by Django")


def app_checks() -> list[CheckResult]:
    """The checks apps declare in ``AppConfig.diagnostic_checks`` (dotted paths to functions)."""
    results = []
    for app_config in apps.get_app_configs():
        for path in getattr(app_config, "diagnostic_checks", ()):
            try:
                results.append(import_string(path)())
            except Exception as exc:  # a broken check is reported, not raised: the others still run
                results.append(CheckResult(path, False, f"{type(exc).__name__}: {exc}"))
    return results


class Command(BaseCommand):
    help = ("Check the database, cache, broker, worker queues, migrations, encryption keys, static files and "
            "what the apps add (e.g. the knowledge base's calibration).")

    def handle(self, *args, **options):
        results = [*run_service_checks(), check_migrations(), check_encryption(), check_static(), *app_checks()]
        width = max(len(r.name) for r in results)
        for result in results:
            mark = self.style.SUCCESS(" OK ") if result.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"[{mark}] {result.name.ljust(width)}  {result.detail}")
        failed = [r.name for r in results if not r.ok]
        if failed:
            raise CommandError(f"{len(failed)} check(s) failed: {', '.join(failed)}")
        self.stdout.write(self.style.SUCCESS("Everything kefu needs is working."))


