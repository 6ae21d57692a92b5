"""Writes of the billing app: configs, tests of configs, shop choices, budgets, request-log upkeep.

The catalogue (billing.catalogue), the router (billing.router) and the budget ledger
(billing.budgets) are services too, kept in their own modules because each is a unit of its own
(the router writes catalogue rows, so the catalogue sits below it).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.shops.selectors import shop_is_manageable
from kefu import transfer
from kefu.exceptions import PermissionDenied
from kefu.logging import redact
from kefu.scoping import is_superadmin
from kefu.transfer import ImportReport

from . import egress
from .catalogue import ai_model_ensure
from .choices import BudgetScope, Capability, ModelType
from .exceptions import BillingError
from .models import (
    MAX_LOG_RETENTION_DAYS,
    AIModel,
    Budget,
    ModelConfig,
    ModelPricing,
    Provider,
    RequestLog,
    ShopModelChoice,
)

logger = logging.getLogger(__name__)


# Configs -----------------------------------------------------------------------------------


def _config_link_model(config: ModelConfig) -> None:
    model = config.model if config.model_id else None
    if model is None or model.code != config.model_code or model.provider_id != config.provider_id:
        model_type = ModelType.EMBEDDING if config.capability == Capability.EMBEDDING else ModelType.TEXT
        config.model = ai_model_ensure(provider=config.provider, code=config.model_code, model_type=model_type)


def _check_owner(*, actor, config: ModelConfig) -> None:
    """Only superadmins (and commands, ``actor`` None) choose whose key a config holds; anyone else
    saves their own configs only.

    Raises BillingError (403, ``owner_fixed``) when a non-superadmin would create a config for
    someone else, or change a config that is not theirs or its owner (say, to none: system-wide).
    """
    if actor is None or is_superadmin(actor):
        return
    stored = actor.pk
    if config.pk:
        stored = ModelConfig.objects.filter(pk=config.pk).values_list("owner_id", flat=True).first()
    if config.owner_id != actor.pk or stored != actor.pk:
        raise BillingError(_("Only a superadmin can change whose key a config holds."), code="owner_fixed",
                           status_code=403)


def _config_write(*, actor, config: ModelConfig) -> ModelConfig:
    """Check and save ``config``: the URL it calls first, outside any transaction (a name lookup,
    egress.validate_config_url), then owner, catalogue model, validation and the write in one.

    Raises ValidationError (``base_url`` refused, or the model's own rules), BillingError (owner_fixed).
    """
    _check_owner(actor=actor, config=config)
    egress.validate_config_url(config)
    with transaction.atomic():
        _config_link_model(config)
        config.stamp(actor)
        config.full_clean()
        config.save()
    return config


def model_config_create(*, actor, provider: Provider, name: str, model_code: str, **fields) -> ModelConfig:
    """Create a config; its catalogue model is found or created from ``model_code``.

    Without ``timeout_seconds`` the config gets KEFU_BILLING_DEFAULT_TIMEOUT_SECONDS. The base URL
    of a config whose owner is not a superadmin is limited (billing.egress).
    """
    from . import conf

    fields.setdefault("timeout_seconds", conf.default_timeout_seconds())
    config = ModelConfig(provider=provider, name=name, model_code=model_code, **fields)
    return _config_write(actor=actor, config=config)


def model_config_update(*, actor, config: ModelConfig, **fields) -> ModelConfig:
    """Change a config. An empty or missing ``api_key`` keeps the stored key (keys are write-only)."""
    if not fields.get("api_key"):
        fields.pop("api_key", None)
    for name, value in fields.items():
        setattr(config, name, value)
    return _config_write(actor=actor, config=config)


def model_config_save(*, actor, config: ModelConfig, api_key: str | None = None,
                      extra_headers: dict | None = None) -> ModelConfig:
    """Validate and save ``config`` as edited in a form; a new key or headers replace the stored ones
    only when given (they are write-only: forms never show them)."""
    if api_key:
        config.api_key = api_key
    if extra_headers is not None:
        config.extra_headers = extra_headers
    return _config_write(actor=actor, config=config)


def model_config_disable(*, actor, config: ModelConfig) -> ModelConfig:
    """Take a config out of routing at once: the router never calls an inactive config."""
    config.is_active = False
    config.stamp(actor)
    config.save(update_fields=["is_active", "updated_at", "updated_by"])
    return config


def model_config_test(*, config: ModelConfig) -> tuple[bool, str]:
    """Make one real, cheap call with ``config`` (not through the router, no failover) and store the result.

    Returns (ok, message). The call is metered like any other (a usage record is written).
    """
    from . import router

    ok, message = router.probe(config=config)
    message = redact(message)[:500]
    ModelConfig.objects.filter(pk=config.pk).update(
        last_tested_at=timezone.now(), last_test_ok=ok, last_test_message=message
    )
    config.refresh_from_db(fields=["last_tested_at", "last_test_ok", "last_test_message"])
    return ok, message


# Prices ------------------------------------------------------------------------------------

PRICE_FIELDS = ("model", "pricing_type", "unit_price", "currency", "effective_from", "effective_to", "note")


def _price_write(*, actor, price: ModelPricing, models: set[int]) -> ModelPricing:
    """Check and save ``price`` (the model's rules: sign, years, no overlap with another price).

    The prices of ``models`` are written one at a time: the overlap rule reads the other prices.
    Raises PermissionDenied (prices are the superadmins'), ValidationError.
    """
    if actor is not None and not is_superadmin(actor):
        raise PermissionDenied(_("Only a superadmin may change prices."))
    with transaction.atomic():
        list(AIModel.objects.select_for_update().filter(pk__in=models).order_by("pk").values_list("pk", flat=True))
        price.full_clean()
        price.save()
    return price


def pricing_create(*, actor, model: AIModel, pricing_type: str, unit_price, effective_from, currency: str = "CNY",
                   effective_to=None, note: str = "") -> ModelPricing:
    """A new list price of ``model``, in force from ``effective_from`` (until ``effective_to``, or open)."""
    price = ModelPricing(model=model, pricing_type=pricing_type, unit_price=unit_price, currency=currency,
                         effective_from=effective_from, effective_to=effective_to, note=note)
    return _price_write(actor=actor, price=price, models={model.pk})


def pricing_update(*, actor, pricing: ModelPricing, **fields) -> ModelPricing:
    """Change ``fields`` (of PRICE_FIELDS) of a price, e.g. give an open price its end."""
    unknown = set(fields) - set(PRICE_FIELDS)
    if unknown:
        raise BillingError(_("A price has no field %(f)s.") % {"f": ", ".join(sorted(unknown))}, code="invalid")
    models = {pricing.model_id}
    for name, value in fields.items():
        setattr(pricing, name, value)
    return _price_write(actor=actor, price=pricing, models={*models, pricing.model_id})


@transaction.atomic
def pricing_delete(*, actor, pricing: ModelPricing) -> None:
    """Remove a price; the cost of calls already recorded stays as it was computed."""
    if actor is not None and not is_superadmin(actor):
        raise PermissionDenied(_("Only a superadmin may change prices."))
    pricing.delete()


# Shop choices ------------------------------------------------------------------------------


@transaction.atomic
def shop_model_choice_save(*, actor, choice: ShopModelChoice) -> ShopModelChoice:
    """Validate and save a shop's choice of config for a capability.

    Raises BillingError (403) unless ``actor`` administers the shop and the config is system-wide
    or ``actor``'s own key (ModelConfig.objects.assignable_by): nobody points a shop at another
    person's key.
    """
    if not shop_is_manageable(user=actor, shop=choice.shop_id):
        raise BillingError(_("You do not administer this shop."), code="permission_denied", status_code=403)
    if not ModelConfig.objects.assignable_by(actor).filter(pk=choice.config_id).exists():
        raise BillingError(_("A shop can use a system-wide config or your own key, not another person's key."),
                           code="config_not_assignable", status_code=403)
    choice.full_clean()
    choice.save()
    return choice


# Budgets -----------------------------------------------------------------------------------


@transaction.atomic
def budget_set(*, actor, shop=None, config=None, monthly_limit, is_active: bool = True) -> Budget:
    """Set (create or change) the monthly CNY budget of one shop or one config. See budget_save."""
    if (shop is None) == (config is None):
        raise BillingError(_("A budget is for one shop or one config."), code="invalid_budget_target")
    budget = Budget.objects.filter(shop=shop, config=config).first() or Budget(
        scope=BudgetScope.SHOP if shop else BudgetScope.CONFIG, shop=shop, config=config
    )
    budget.monthly_limit = monthly_limit
    budget.is_active = is_active
    return budget_save(actor=actor, budget=budget)


@transaction.atomic
def budget_save(*, actor, budget: Budget) -> Budget:
    """Validate and save ``budget``, new or edited (the admin, the API and budget_set all save here).

    A budget that starts counting (new, or switched back on) gets this month's spend counter
    recomputed from the usage records (budgets.counter_rebuild): while it was off, calls did not
    move the counter. Raises PermissionDenied (budgets are the superadmins'), ValidationError on
    invalid data, BillingError (``budget_target_fixed``) when a saved budget would move to another
    shop or config: that is another budget.
    """
    from . import budgets

    if actor is not None and not is_superadmin(actor):
        raise PermissionDenied(_("Only a superadmin may set budgets."))
    previous = Budget.objects.filter(pk=budget.pk).values("is_active", "shop_id", "config_id").first() \
        if budget.pk else None
    if previous and (previous["shop_id"], previous["config_id"]) != (budget.shop_id, budget.config_id):
        raise BillingError(_("A budget keeps its shop or config; create a new budget for another one."),
                           code="budget_target_fixed")
    budget.stamp(actor)
    budget.full_clean()
    budget.save()
    if budget.is_active and (previous is None or not previous["is_active"]):
        budgets.counter_rebuild(budget=budget)
    return budget


# Request log upkeep ------------------------------------------------------------------------


def request_log_purge(*, now=None) -> int:
    """Delete request-log rows older than their config's retention (and any whose config is gone).

    Returns the number of rows deleted. Run daily by the beat task billing.purge_request_logs.
    """
    now = now or timezone.now()
    deleted = 0
    for config_id, days in ModelConfig.objects.values_list("id", "log_retention_days"):
        # Rows saved before the bound was checked may hold more days than a date can go back.
        days = min(days, MAX_LOG_RETENTION_DAYS)
        count, _detail = RequestLog.objects.filter(
            usage__config_id=config_id, created_at__lt=now - timedelta(days=days)
        ).delete()
        deleted += count
    # A log whose config was deleted keeps the shortest default retention.
    orphan_cutoff = now - timedelta(days=7)
    count, _detail = RequestLog.objects.filter(usage__config__isnull=True, created_at__lt=orphan_cutoff).delete()
    return deleted + count


# Export / import ---------------------------------------------------------------------------

EXPORT_FORMAT = "kefu-billing/1"
CONFIG_FIELDS = ["name", "model_code", "base_url", "temperature", "max_tokens", "timeout_seconds", "max_retries",
                 "capability", "is_default", "priority", "is_active", "log_requests", "log_retention_days"]


def billing_export() -> dict:
    """Providers, models, prices and configs as JSON-ready data. API keys and extra headers are never included."""
    from .models import AIModel

    return {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "providers": [
            {"code": p.code, "name": p.name, "api_style": p.api_style, "default_base_url": p.default_base_url,
             "website": p.website, "enabled": p.enabled}
            for p in Provider.objects.order_by("code")
        ],
        "models": [
            {"provider": m.provider.code, "code": m.code, "name": m.name, "model_type": m.model_type,
             "enabled": m.enabled}
            for m in AIModel.objects.select_related("provider").order_by("provider__code", "code")
        ],
        "prices": [
            {"provider": p.model.provider.code, "model": p.model.code, "pricing_type": p.pricing_type,
             "unit_price": str(p.unit_price), "currency": p.currency,
             "effective_from": p.effective_from.isoformat(),
             "effective_to": p.effective_to.isoformat() if p.effective_to else None, "note": p.note}
            for p in ModelPricing.objects.select_related("model__provider").order_by("model_id", "pricing_type",
                                                                                     "effective_from")
        ],
        "configs": [
            {"provider": c.provider.code, "owner": c.owner.username if c.owner else None,
             **{name: getattr(c, name) for name in CONFIG_FIELDS}}
            for c in ModelConfig.objects.select_related("provider", "owner").order_by("id")
        ],
    }


@transaction.atomic
def billing_import(*, data: bytes | str | dict, actor=None) -> ImportReport:
    """Create or update what ``data`` (a billing_export document, parsed or not) holds; all or nothing.

    Configs come back inactive unless the matching existing config already holds a key (keys are never
    exported). Every entry is checked; the report counts what was created and updated. Raises
    BillingError (``invalid_import``) naming every bad entry (``detail``), and then writes nothing.
    """
    from decimal import Decimal, InvalidOperation

    from django.contrib.auth import get_user_model
    from django.utils.dateparse import parse_datetime

    document = transfer.read_document(data, format_name=EXPORT_FORMAT, error=BillingError, code="invalid_import")
    report = ImportReport()

    def entries(section):
        return transfer.document_entries(document, section, error=BillingError, code="invalid_import")

    def saved(row, section):
        """Validate ``row`` (field rules and the table's constraints) before saving it, so a bad value
        is reported with its entry, not as the database's IntegrityError."""
        row.full_clean()
        created = row.pk is None
        row.save()
        report.record("created" if created else "updated", section)
        return row

    def update_or_new(model, lookup, values):
        row = model.objects.filter(**lookup).first() or model(**lookup)
        for name, value in values.items():
            setattr(row, name, value)
        return row

    def provider_of(code):
        provider = Provider.objects.filter(code=code).first()
        if provider is None:
            raise BillingError(_("unknown provider “%(code)s”") % {"code": code})
        return provider

    for label, row in entries("providers"):
        with report.entry(label):
            saved(update_or_new(Provider, {"code": transfer.required(row, "code")}, {
                k: row[k] for k in ("name", "api_style", "default_base_url", "website", "enabled") if k in row}),
                "providers")
    for label, row in entries("models"):
        with report.entry(label):
            saved(update_or_new(AIModel, {"provider": provider_of(row["provider"]), "code": row["code"]},
                                {k: row[k] for k in ("name", "model_type", "enabled") if k in row}), "models")
    for label, row in entries("prices"):
        with report.entry(label):
            model = ai_model_ensure(provider=provider_of(row["provider"]), code=row["model"])
            start = parse_datetime(row["effective_from"])
            end = parse_datetime(row["effective_to"]) if row.get("effective_to") else None
            if start is None or (row.get("effective_to") and end is None):
                raise BillingError(_("bad effective date"))
            try:
                unit_price = Decimal(str(row["unit_price"]))
            except InvalidOperation:
                raise BillingError(_("bad unit price “%(price)s”") % {"price": row["unit_price"]}) from None
            saved(update_or_new(
                ModelPricing, {"model": model, "pricing_type": row["pricing_type"], "effective_from": start},
                {"unit_price": unit_price, "currency": row.get("currency", "CNY"), "effective_to": end,
                 "note": row.get("note", "")}), "prices")
    users = get_user_model().objects
    for label, row in entries("configs"):
        with report.entry(label):
            provider = provider_of(row["provider"])
            owner = None
            if row.get("owner"):
                owner = users.filter(username=row["owner"]).first()
                if owner is None:
                    raise BillingError(_("unknown owner “%(owner)s”") % {"owner": row["owner"]})
            config = ModelConfig.objects.filter(provider=provider, name=row["name"], owner=owner).first() or \
                ModelConfig(provider=provider, owner=owner)
            for name in CONFIG_FIELDS:
                if name in row:
                    setattr(config, name, row[name])
            if not config.api_key:
                config.is_active = False  # comes back inactive until a key is set
            _config_link_model(config)
            config.stamp(actor)
            saved(config, "configs")
    report.refuse(BillingError, code="invalid_import")
    return report
