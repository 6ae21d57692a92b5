from django.core.management.base import BaseCommand

from billing.catalogue import catalogue_seed


class Command(BaseCommand):
    help = "Load the AI providers, common models and their list prices (idempotent; never overwrites edits)."

    def handle(self, *args, **options):
        created = catalogue_seed()
        self.stdout.write(
            self.style.SUCCESS(
                "billing_seed: created {providers} providers, {models} models, {prices} prices.".format(**created)
            )
        )
        if created["prices_left_out"]:
            self.stdout.write(self.style.WARNING(
                f"billing_seed: {created['prices_left_out']} seed prices left out: a price set in the catalogue "
                "of the same model is in force then (see Model prices in the admin)."
            ))
