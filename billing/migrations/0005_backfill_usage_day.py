from django.db import migrations
from django.utils import timezone


def backfill_day(apps, schema_editor):
    """Give rows written before the ``day`` column their local date (not the migration's date)."""
    UsageRecord = apps.get_model("billing", "UsageRecord")
    batch = []
    for record in UsageRecord.objects.only("pk", "created_at", "day").iterator(chunk_size=2000):
        local_day = timezone.localtime(record.created_at).date()
        if record.day != local_day:
            record.day = local_day
            batch.append(record)
        if len(batch) >= 2000:
            UsageRecord.objects.bulk_update(batch, ["day"])
            batch = []
    if batch:
        UsageRecord.objects.bulk_update(batch, ["day"])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_usage_day"),
    ]

    operations = [
        migrations.RunPython(backfill_day, migrations.RunPython.noop),
    ]
