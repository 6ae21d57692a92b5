import secrets

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User
from accounts.services import user_create, user_update
from customer_service.shops.choices import ShopRole
from customer_service.shops.models import Shop
from customer_service.shops.services import shop_create, shop_membership_set
from kefu.exceptions import problems_text, validation_problems

DEMO_SHOP = "kefu 演示店"
DEMO_PEOPLE = (("demo_admin", ShopRole.ADMIN), ("demo_agent", ShopRole.AGENT))


class Command(BaseCommand):
    help = (
        "Create the superadmin (KEFU_ADMIN_USER / KEFU_ADMIN_PASSWORD, or a generated password printed once); "
        "--demo adds a demo shop with one admin and one agent. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="add the demo shop and its two people")

    def handle(self, *args, demo=False, **options):
        self._check_migrated()
        username = settings.KEFU_ADMIN_USER
        if not username.strip():
            raise CommandError("KEFU_ADMIN_USER is empty: set it to the superadmin's username (e.g. admin).")
        with transaction.atomic():
            admin = User.objects.filter(username=username).first()
            if admin is None:
                admin = self._create_admin(username)
            else:
                if not admin.is_superadmin:
                    user_update(user=admin, is_superadmin=True)
                self.stdout.write(f"Superadmin {username} already exists; password unchanged.")
            if demo:
                self._demo(admin)

    def _check_migrated(self):
        try:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            raise CommandError(f"Cannot read the database ({exc}): check DATABASE_URL.") from None
        if pending:
            raise CommandError(
                f"The database is not set up yet ({len(pending)} migrations to apply): "
                "run `python manage.py migrate` first, then bootstrap again."
            )

    def _create_admin(self, username):
        configured = settings.KEFU_ADMIN_PASSWORD
        if configured:
            try:
                validate_password(configured, User(username=username, is_superadmin=True))
            except ValidationError as exc:
                raise CommandError(
                    f"KEFU_ADMIN_PASSWORD is too weak: {problems_text(validation_problems(exc))} "
                    "Choose a stronger one, or leave it empty to have one generated and shown once."
                ) from None
        password = configured or secrets.token_urlsafe(12)
        try:
            admin = user_create(username=username, password=password, is_superadmin=True, is_staff=True)
        except ValidationError as exc:
            raise CommandError(
                f"KEFU_ADMIN_USER {username!r} cannot be used: {problems_text(validation_problems(exc))} "
                "Set it to another name: letters, digits and @ . + - _ only, no spaces (e.g. admin)."
            ) from None
        shown = password if not configured else "(from KEFU_ADMIN_PASSWORD)"
        self.stdout.write(self.style.SUCCESS(f"Superadmin created: {username} / {shown}"))
        if not configured:
            self.stdout.write("This password is shown only once: write it down.")
        return admin

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
