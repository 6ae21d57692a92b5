from django.db import migrations

# httpx quoted a refused header in its error ("Illegal header value b'<the value>'"), and the
# router stored that text. The rows get the fixed text the provider clients use now.
LEAKED = "Illegal header"
FIXED = "the request could not be built: the API key or an extra header holds characters HTTP headers cannot carry"


def scrub(apps, schema_editor):
    """Replace stored error texts that quote a header (an API key or extra header value)."""
    ModelConfig = apps.get_model("billing", "ModelConfig")
    UsageRecord = apps.get_model("billing", "UsageRecord")
    ModelConfig.objects.filter(last_test_message__contains=LEAKED).update(last_test_message=f"bad_config: {FIXED}")
    UsageRecord.objects.filter(error_text__contains=LEAKED).update(error_text=FIXED, error_code="bad_config")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_backfill_usage_day"),
    ]

    operations = [
        migrations.RunPython(scrub, migrations.RunPython.noop),
    ]
