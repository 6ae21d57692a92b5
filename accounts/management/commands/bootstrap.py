import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import user_create, user_update
from customer_service.choices import ShopRole
from customer_service.models import Shop
from customer_service.services import shop_create, shop_membership_set

DEMO_SHOP = "kefu 演示店"
DEMO_PEOPLE = (("demo_admin", ShopRole.ADMIN), ("demo_agent", ShopRole.AGENT))


class Command(BaseCommand):
    help = (
        "Create the superadmin (KEFU_ADMIN_USER / KEFU_ADMIN_PASSWORD, or a generated password printed once); "
        "--demo adds a demo shop with one admin and one agent. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="add the demo shop and its two people")

    @transaction.atomic
    def handle(self, *args, demo=False, **options):
        username = settings.KEFU_ADMIN_USER
        admin = User.objects.filter(username=username).first()
        if admin is None:
            password = settings.KEFU_ADMIN_PASSWORD or secrets.token_urlsafe(12)
            admin = user_create(username=username, password=password, is_superadmin=True, is_staff=True)
            shown = password if not settings.KEFU_ADMIN_PASSWORD else "(from KEFU_ADMIN_PASSWORD)"
            self.stdout.write(self.style.SUCCESS(f"Superadmin created: {username} / {shown}"))
            if not settings.KEFU_ADMIN_PASSWORD:
                self.stdout.write("This password is shown only once: write it down.")
        else:
            if not admin.is_superadmin:
                user_update(user=admin, is_superadmin=True)
            self.stdout.write(f"Superadmin {username} already exists; password unchanged.")

        if demo:
            self._demo(admin)

    def _demo(self, admin):
        shop = Shop.objects.filter(name=DEMO_SHOP).first() or shop_create(
            actor=admin, name=DEMO_SHOP, qianniu_title="kefu演示店 - 接待中心"
        )
        for username, role in DEMO_PEOPLE:
            person = User.objects.filter(username=username).first()
            if person is None:
                password = secrets.token_urlsafe(10)
                person = user_create(username=username, password=password, is_staff=True)
                self.stdout.write(self.style.SUCCESS(f"Demo {role}: {username} / {password}"))
            shop_membership_set(actor=admin, shop=shop, user=person, role=role)
        from knowledge.demo import load_demo_knowledge

        added = load_demo_knowledge(shop=shop, actor=admin)
        self.stdout.write(f"Demo shop ready: {shop.name} ({added} new FAQ items)")
