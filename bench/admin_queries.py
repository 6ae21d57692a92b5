"""Database queries per admin page, for a superadmin, a shop admin and an agent. Prints figures; not a test.

    .venv/bin/python bench/admin_queries.py

Builds a throw-away SQLite database under /tmp with `bootstrap --demo` (one shop, its admin and agent,
the demo FAQ) plus a second shop and REVIEW_ITEMS pending review items, then opens each page below with
Django's test client and counts the queries with ``CaptureQueriesContext``. The counts depend on the data
only through the page size.
"""

import os
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

PAGES = [
    "/admin/",
    "/admin/customer_service/shop/",
    "/admin/customer_service/shopmembership/",
    "/admin/accounts/user/",
    "/admin/knowledge/knowledgeitem/",
    "/admin/configs/userconfig/",
    "/admin/configs/confighistory/",
    "/admin/billing/modelconfig/",
    "/admin/billing/usagerecord/",
    "/admin/customer_service/reviewitem/",
    "/admin/customer_service/reviewitem/{review_item}/change/",
    "/admin/customer_service/replytemplate/",
]
REVIEW_ITEMS = 30  # pending items in the demo shop, each a buyer's line with a draft: the desk and the queue show them


def main():
    var = Path(tempfile.mkdtemp(prefix="kefu-bench-admin-"))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "kefu.settings.local", "KEFU_VAR_DIR": str(var),
        "DJANGO_READ_DOT_ENV_FILE": "false", "DATABASE_URL": f"sqlite:///{var / 'bench.sqlite3'}",
        "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "REDIS_URL": "",
        "KEFU_LOG_LEVEL": "WARNING", "KEFU_ADMIN_USER": "admin", "KEFU_ADMIN_PASSWORD": "",
    })
    import django

    django.setup()
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    call_command("bootstrap", demo=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    user_model, shop_model = apps.get_model("accounts", "User"), apps.get_model("customer_service", "Shop")
    other = shop_model.objects.create(name="bench other shop")
    apps.get_model("customer_service", "ShopMembership").objects.create(
        shop=other, user=user_model.objects.get(username="demo_agent"), role="admin")

    review_item = _review_items(apps, shop_model.objects.exclude(pk=other.pk).first())

    people = ["admin", "demo_admin", "demo_agent"]
    print(f"{'page':44}" + "".join(f"{name:>12}" for name in people))
    totals = dict.fromkeys(people, 0)
    for page in PAGES:
        page = page.format(review_item=review_item)
        row = f"{page:44}"
        for name in people:
            client = Client()
            client.force_login(user_model.objects.get(username=name))
            with CaptureQueriesContext(connection) as queries:
                response = client.get(page)
            cell = f"{len(queries)}" if response.status_code == 200 else f"{len(queries)} ({response.status_code})"
            totals[name] += len(queries)
            row += f"{cell:>12}"
        print(row)
    print(f"{'total':44}" + "".join(f"{totals[name]:>12}" for name in people))
    print("people: admin = superadmin; demo_admin = admin of the demo shop; demo_agent = agent there and admin of "
          "a second shop")



def _review_items(apps, shop) -> int:
    """REVIEW_ITEMS pending review items of ``shop`` (one conversation each, two buyer lines, a draft)."""
    from datetime import timedelta

    from django.utils import timezone

    conversation_model, message_model = apps.get_model("customer_service", "Conversation"), apps.get_model(
        "customer_service", "Message")
    reply_model, item_model = apps.get_model("customer_service", "Reply"), apps.get_model(
        "customer_service", "ReviewItem")
    now, first = timezone.now(), None
    for n in range(REVIEW_ITEMS):
        conversation = conversation_model.objects.create(shop=shop, buyer_id=f"bench-buyer-{n}")
        head = message_model.objects.create(shop=shop, conversation=conversation, content="这款有XL吗",
                                            external_id=f"bench-{n}-2", status="review")
        message_model.objects.create(shop=shop, conversation=conversation, content="在吗", external_id=f"bench-{n}-1",
                                     status="review", burst_head=head)
        draft = reply_model.objects.create(message=head, source="ai", text="亲，XL有货的哦～", confidence=0.7)
        item = item_model.objects.create(shop=shop, message=head, draft=draft, reason="kb.draft",
                                         deadline_at=now + timedelta(seconds=60 + n))
        first = first or item.pk
    return first


if __name__ == "__main__":
    main()
