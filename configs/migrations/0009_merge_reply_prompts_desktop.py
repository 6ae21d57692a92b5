"""Two shop-settings migrations landed side by side (the reply prompts template and the desktop settings
group); they touch different templates and groups, so they merge with nothing to do."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("configs", "0008_reply_prompts_template"),
        ("configs", "0008_shop_settings_desktop"),
    ]

    operations = []
