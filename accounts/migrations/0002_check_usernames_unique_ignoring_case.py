"""Refuse to go on while two usernames differ only in letter case.

The next migration adds a unique index on lower(username); with such a pair
in the table it would fail with a bare IntegrityError. This names the pairs
and says what to do instead.
"""

from django.core.management.base import CommandError
from django.db import migrations
from django.db.models import Count
from django.db.models.functions import Lower


def check_usernames(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    clashes = (
        User.objects.annotate(folded=Lower("username"))
        .values("folded")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("folded", flat=True)
    )
    groups = []
    for folded in clashes:
        names = User.objects.annotate(folded=Lower("username")).filter(folded=folded).order_by("pk")
        groups.append(", ".join(f"{name!r} (id {pk})" for pk, name in names.values_list("pk", "username")))
    if groups:
        raise CommandError(
            "Usernames must now be unique whatever their letter case, and these differ only in case: "
            + "; ".join(groups)
            + ". Rename or delete all but one of each group (admin, or `manage.py shell`), then run migrate again."
        )


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(check_usernames, migrations.RunPython.noop),
    ]
