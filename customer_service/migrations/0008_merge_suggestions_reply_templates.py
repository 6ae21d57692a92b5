"""One line of migrations again: the knowledge suggestions and the reply templates seed landed side by side."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("customer_service", "0007_knowledge_suggestions"),
        ("customer_service", "0007_reply_templates_seed"),
    ]

    operations = []
