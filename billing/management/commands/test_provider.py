from django.core.management.base import BaseCommand, CommandError

from billing.models import ModelConfig
from billing.services import model_config_test


class Command(BaseCommand):
    help = "Make one real, cheap call with a model config (by id or name) and store the result. Exit 1 on failure."

    def add_arguments(self, parser):
        parser.add_argument("config", help="config id or exact name")

    def handle(self, *args, config, **options):
        queryset = ModelConfig.objects.select_related("provider", "model")
        found = queryset.filter(pk=int(config)).first() if config.isdigit() else None
        found = found or queryset.filter(name=config).first()
        if found is None:
            raise CommandError(f"No model config '{config}'.")
        ok, message = model_config_test(config=found)
        line = f"{found.name} ({found.provider.code}/{found.model_code}, key {found.api_key_masked or 'none'}): "
        if ok:
            self.stdout.write(self.style.SUCCESS(line + message))
            return
        self.stderr.write(self.style.ERROR(line + message))
        raise SystemExit(1)
