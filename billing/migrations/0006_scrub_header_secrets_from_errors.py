import re

from django.db import migrations

# httpx quoted a refused header in its error ("Illegal header value b'<the value>'"), and the
# router stored that text. The rows get the fixed text the provider clients use now. Matched
# exactly, in Python: SQLite's LIKE ignores case and would take other texts along.
LEAKED = re.compile(r"Illegal header (?:value|name) b['\"]")
FIXED = "the request could not be built: the API key or an extra header holds characters HTTP headers cannot carry"


def scrub(apps, schema_editor):
    """Replace stored error texts that quote a header (an API key or extra header value)."""
    ModelConfig = apps.get_model("billing", "ModelConfig")
    UsageRecord = apps.get_model("billing", "UsageRecord")
    configs = ModelConfig.objects.filter(last_test_message__icontains="illegal header")
    leaked = [pk for pk, text in configs.values_list("pk", "last_test_message") if LEAKED.search(text)]
    ModelConfig.objects.filter(pk__in=leaked).update(last_test_message=f"bad_config: {FIXED}")
    records = UsageRecord.objects.filter(error_text__icontains="illegal header")
    leaked = [pk for pk, text in records.values_list("pk", "error_text") if LEAKED.search(text)]
    UsageRecord.objects.filter(pk__in=leaked).update(error_text=FIXED, error_code="bad_config")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_backfill_usage_day"),
    ]

    operations = [
        migrations.RunPython(scrub, migrations.RunPython.noop),
    ]
