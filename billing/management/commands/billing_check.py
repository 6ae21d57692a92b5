from django.core.management.base import BaseCommand

from billing.selectors import billing_problems


class Command(BaseCommand):
    help = ("Check billing data: configs without a key or price, price gaps and overlaps (errors); models never "
            "used, usage of deleted configs (warnings). Exit 1 on an error (or on a warning with --strict).")

    def add_arguments(self, parser):
        parser.add_argument("--strict", action="store_true", help="warnings fail too")
        parser.add_argument("--quiet", action="store_true", help="print errors only")

    def handle(self, *args, strict=False, quiet=False, **options):
        problems = billing_problems()
        errors = [p for p in problems if p["level"] == "error"]
        warnings = [p for p in problems if p["level"] == "warning"]
        for problem in errors:
            self.stdout.write(self.style.ERROR(f"ERROR   {problem['kind']}: {problem['text']}"))
        if not quiet:
            for problem in warnings:
                self.stdout.write(self.style.WARNING(f"WARNING {problem['kind']}: {problem['text']}"))
        self.stdout.write(f"billing_check: {len(errors)} errors, {len(warnings)} warnings.")
        if errors or (strict and warnings):
            raise SystemExit(1)
