"""Providers, the model catalogue, configs (credentials + routing), prices, usage, budgets."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.crypto import mask_secret
from kefu.fields import EncryptedJSONField, EncryptedTextField, InputCharField, InputURLField
from kefu.models import AuditedModel, TimestampedModel
from kefu.scoping import CatalogueQuerySet, is_signed_in, is_superadmin

from .choices import (
    ApiStyle,
    BudgetScope,
    Capability,
    CounterScope,
    Currency,
    ModelType,
    PricingType,
    UsageStatus,
    UsageType,
)
from .validators import validate_api_key, validate_extra_headers

MONEY = {"max_digits": 16, "decimal_places": 6}

# Bounds of a config's numbers. Beyond them a value is a typo that breaks things quietly: a
# timeout of 1e308 s makes every call fail (the socket cannot wait that long), thousands of
# retries hold a worker for hours, and a retention of millions of days overflows the date
# arithmetic of the daily log purge (for every config, since one error stops the job).
MAX_TIMEOUT_SECONDS = 600
MAX_RETRIES = 10
MAX_LOG_RETENTION_DAYS = 3650
# Prices take effect within these years: a year-1 date cannot even be converted to UTC.
PRICE_YEARS = (2000, 2100)


class Provider(TimestampedModel):
    """An AI vendor (or any OpenAI-compatible endpoint) that configs call."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = InputCharField(_("name"), max_length=100)
    api_style = models.CharField(_("API style"), max_length=16, choices=ApiStyle.choices, default=ApiStyle.OPENAI)
    default_base_url = InputURLField(_("default base URL"), max_length=300, blank=True)
    website = InputURLField(_("website"), max_length=300, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        verbose_name = _("AI provider")
        verbose_name_plural = _("AI providers")
        ordering = ["code"]

    def __str__(self):
        return self.name


class AIModel(TimestampedModel):
    """A model in the catalogue: what usage is recorded and priced against; outlives any config."""

    provider = models.ForeignKey(Provider, verbose_name=_("provider"), on_delete=models.PROTECT, related_name="models")
    code = InputCharField(_("model code"), max_length=150, help_text=_("The name sent to the provider's API."))
    name = InputCharField(_("display name"), max_length=150, blank=True)
    model_type = models.CharField(_("type"), max_length=16, choices=ModelType.choices, default=ModelType.TEXT)
    enabled = models.BooleanField(_("enabled"), default=True)

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        verbose_name = _("AI model")
        verbose_name_plural = _("AI models")
        ordering = ["provider__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "code"], name="%(app_label)s_%(class)s_unique_code"),
        ]

    def __str__(self):
        return f"{self.provider.code}/{self.code}"


class ModelConfigQuerySet(models.QuerySet):
    def for_user(self, user):
        """Superadmins see all; others see system-wide configs and their own keys (keys always masked)."""
        if not is_signed_in(user):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(Q(owner__isnull=True) | Q(owner=user))

    def manageable_by(self, user):
        """Superadmins manage all; a user manages the configs holding their own key."""
        if not is_signed_in(user):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(owner=user)

    def assignable_by(self, user):
        """Configs the person may point a shop at: system-wide ones and their own key, never another's key
        (superadmins included: the router would ignore another person's key for everyone but its owner)."""
        if not is_signed_in(user):
            return self.none()
        return self.filter(Q(owner__isnull=True) | Q(owner=user))

    def usable(self):
        return self.filter(is_active=True, provider__enabled=True)


class ModelConfig(AuditedModel):
    """Credentials and routing for one model at one provider: what the router picks and calls."""

    name = InputCharField(_("name"), max_length=100)
    provider = models.ForeignKey(Provider, verbose_name=_("provider"), on_delete=models.PROTECT, related_name="configs")
    model_code = InputCharField(
        _("model code"), max_length=150, help_text=_("Sent to the API; the catalogue row is found or created from it."),
    )
    model = models.ForeignKey(
        AIModel,
        verbose_name=_("catalogue model"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="configs",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="model_configs",
        help_text=_("Empty: system-wide. Set: this user's own key, used for their calls first."),
    )
    api_key = EncryptedTextField(_("API key"), blank=True)
    base_url = InputURLField(_("base URL"), max_length=300, blank=True, help_text=_("Empty: the provider's."))
    temperature = models.FloatField(_("temperature"), null=True, blank=True)
    max_tokens = models.PositiveIntegerField(_("max output tokens"), null=True, blank=True)
    timeout_seconds = models.FloatField(_("timeout (seconds)"), default=30.0)
    max_retries = models.PositiveSmallIntegerField(
        _("retries"), default=0, help_text=_("SDK retries on this config before failing over to the next.")
    )
    extra_headers = EncryptedJSONField(_("extra headers"), null=True, blank=True)
    capability = models.CharField(_("capability"), max_length=16, choices=Capability.choices, default=Capability.TEXT)
    is_default = models.BooleanField(_("default"), default=False)
    priority = models.IntegerField(_("priority"), default=100, help_text=_("Lower is tried first."))
    is_active = models.BooleanField(_("active"), default=True)
    log_requests = models.BooleanField(
        _("keep request log"), default=False, help_text=_("Keep prompt and answer text of each call (off: privacy).")
    )
    log_retention_days = models.PositiveIntegerField(_("request log retention (days)"), default=7)
    last_tested_at = models.DateTimeField(_("last tested"), null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(_("last test passed"), null=True, blank=True, editable=False)
    last_test_message = models.CharField(_("last test result"), max_length=500, blank=True, editable=False)

    objects = ModelConfigQuerySet.as_manager()

    class Meta:
        verbose_name = _("model config")
        verbose_name_plural = _("model configs")
        ordering = ["capability", "-is_default", "priority", "id"]
        indexes = [models.Index(fields=["capability", "is_active", "priority"], name="billing_config_routing")]

    def __str__(self):
        return self.name

    @property
    def api_key_masked(self) -> str:
        return mask_secret(self.api_key)

    @property
    def effective_base_url(self) -> str:
        return self.base_url or self.provider.default_base_url

    def clean(self):
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise ValidationError({"timeout_seconds": _("Must be above zero.")})
        for name, limit in (("timeout_seconds", MAX_TIMEOUT_SECONDS), ("max_retries", MAX_RETRIES),
                            ("log_retention_days", MAX_LOG_RETENTION_DAYS)):
            value = getattr(self, name)
            if value is not None and value > limit:
                raise ValidationError({name: _("At most %(limit)s.") % {"limit": limit}})
        try:
            validate_extra_headers(self.extra_headers)
        except ValidationError as exc:
            raise ValidationError({"extra_headers": exc.error_list}) from None
        try:
            validate_api_key(self.api_key)
        except ValidationError as exc:
            raise ValidationError({"api_key": exc.error_list}) from None
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise ValidationError({"temperature": _("Between 0 and 2.")})
        if self.is_active and not self.api_key:
            raise ValidationError({"is_active": _("Set an API key before activating the config.")})


class SuperadminOnlyQuerySet(models.QuerySet):
    def for_user(self, user):
        return self if is_superadmin(user) else self.none()

    def manageable_by(self, user):
        return self.for_user(user)


class ShopModelChoiceQuerySet(models.QuerySet):
    def for_user(self, user):
        from customer_service.shops.models import Shop

        return self.filter(shop__in=Shop.objects.for_user(user))

    def manageable_by(self, user):
        from customer_service.shops.models import Shop

        return self.filter(shop__in=Shop.objects.manageable_by(user))


class ShopModelChoice(TimestampedModel):
    """The config a shop chose for a capability; the router tries it first for that shop's calls."""

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="model_choices"
    )
    capability = models.CharField(_("capability"), max_length=16, choices=Capability.choices, default=Capability.TEXT)
    config = models.ForeignKey(ModelConfig, verbose_name=_("config"), on_delete=models.CASCADE, related_name="+")

    objects = ShopModelChoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("shop model choice")
        verbose_name_plural = _("shop model choices")
        constraints = [
            models.UniqueConstraint(fields=["shop", "capability"], name="%(app_label)s_%(class)s_one_per_capability"),
        ]

    def __str__(self):
        return f"{self.shop} · {self.capability} → {self.config}"

    def clean(self):
        # The router only looks among configs of the capability asked for: a text config
        # chosen for embeddings would be ignored without a word.
        if self.config_id and self.config.capability != self.capability:
            raise ValidationError({"config": _("This config serves %(config)s, not %(choice)s.") % {
                "config": self.config.get_capability_display(), "choice": self.get_capability_display()}})


class ModelPricing(TimestampedModel):
    """One list price of a model, in force from ``effective_from`` until ``effective_to`` (open: still)."""

    model = models.ForeignKey(AIModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="prices")
    pricing_type = models.CharField(_("pricing type"), max_length=16, choices=PricingType.choices)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    effective_from = models.DateTimeField(_("effective from"))
    effective_to = models.DateTimeField(_("effective to"), null=True, blank=True)
    note = InputCharField(_("note"), max_length=200, blank=True)

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        verbose_name = _("model price")
        verbose_name_plural = _("model prices")
        ordering = ["model", "pricing_type", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "pricing_type", "effective_from"], name="%(app_label)s_%(class)s_unique_start"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="%(app_label)s_%(class)s_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=models.F("effective_from")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.model} {self.get_pricing_type_display()} {self.unit_price} {self.currency}"

    def clean(self):
        if self.unit_price is not None and self.unit_price < 0:
            raise ValidationError({"unit_price": _("Cannot be negative.")})
        for name in ("effective_from", "effective_to"):
            value = getattr(self, name)
            if value and not PRICE_YEARS[0] <= value.year <= PRICE_YEARS[1]:
                raise ValidationError({name: _("Pick a date between the years %(first)d and %(last)d.") % {
                    "first": PRICE_YEARS[0], "last": PRICE_YEARS[1]}})
        if self.effective_to and self.effective_from and self.effective_to <= self.effective_from:
            raise ValidationError({"effective_to": _("Must be after the start.")})
        self._refuse_overlap()

    def _refuse_overlap(self):
        """Two prices of one model and type in force at once make the cost depend on which started last
        (and billing_check reports it as an error): a new price needs the old one to end first."""
        if not (self.model_id and self.pricing_type and self.effective_from):
            return
        others = ModelPricing.objects.filter(model_id=self.model_id, pricing_type=self.pricing_type).exclude(
            pk=self.pk).filter(Q(effective_to__isnull=True) | Q(effective_to__gt=self.effective_from))
        if self.effective_to:
            others = others.filter(effective_from__lt=self.effective_to)
        clash = others.order_by("effective_from").first()
        if clash is None or clash.effective_from == self.effective_from:
            return  # the same start is the unique constraint's to report
        start = timezone.localtime(clash.effective_from).strftime("%Y-%m-%d %H:%M")
        if clash.effective_to is None:
            message = _("The price from %(start)s is still in force then: give it an end first.")
        else:
            message = _("The price from %(start)s to %(end)s is in force during this period.")
        end = timezone.localtime(clash.effective_to).strftime("%Y-%m-%d %H:%M") if clash.effective_to else ""
        raise ValidationError(message % {"start": start, "end": end})

    def in_force(self, at) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)


class UsageRecordQuerySet(ShopScopedQuerySet):
    """A person's own calls and their shops' calls; usage is history, so nobody changes it."""

    def visible_filter(self, user, shop_ids) -> Q:
        return Q(user=user) | Q(shop_id__in=shop_ids)

    def manageable_by(self, user):
        return self.none()  # usage is history: nobody edits it


def local_today():
    """Today in TIME_ZONE: the day a usage record counts towards in reports and quotas."""
    return timezone.localdate()


class UsageRecord(models.Model):
    """One attempt at one provider call, successful or not, with its cost in CNY."""

    created_at = models.DateTimeField(_("at"), default=timezone.now)
    day = models.DateField(
        _("day"), default=local_today, editable=False,
        help_text=_("Local date of created_at, stored so reports group by day without converting every row."),
    )
    request_id = models.CharField(_("request id"), max_length=32, db_index=True, help_text=_("Groups attempts."))
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    model = models.ForeignKey(AIModel, verbose_name=_("model"), on_delete=models.PROTECT, related_name="usage")
    config = models.ForeignKey(
        ModelConfig, verbose_name=_("config"), on_delete=models.SET_NULL, null=True, blank=True, related_name="usage"
    )
    config_name = models.CharField(_("config name"), max_length=100, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="ai_usage",
    )
    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="ai_usage",
    )
    message_ref = models.BigIntegerField(
        _("message id"), null=True, blank=True, db_index=True,
        help_text=_("customer_service Message id (a foreign key once that model exists)."),
    )
    usage_type = models.CharField(_("usage type"), max_length=16, choices=UsageType.choices, default=UsageType.CHAT)
    input_tokens = models.PositiveIntegerField(_("input tokens"), default=0)
    output_tokens = models.PositiveIntegerField(_("output tokens"), default=0)
    images = models.PositiveIntegerField(_("images"), default=0)
    cost = models.DecimalField(_("cost (CNY)"), default=Decimal("0"), **MONEY)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=UsageStatus.choices)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    error_text = models.TextField(_("error"), blank=True)

    objects = UsageRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        ordering = ["-created_at", "-id"]
        indexes = [
            # Reports filter on a time range and group by one column: each index
            # carries what the aggregates read, so PostgreSQL answers from the index.
            models.Index(
                fields=["created_at"], name="billing_usage_time",
                include=["model", "config", "user", "shop", "day", "status", "cost", "input_tokens",
                         "output_tokens"],
            ),
            models.Index(
                fields=["shop", "created_at"], name="billing_usage_shop_time",
                include=["model", "config", "user", "day", "status", "cost", "input_tokens", "output_tokens"],
            ),
            models.Index(fields=["user", "created_at"], name="billing_usage_user_time", include=["cost"]),
            models.Index(fields=["config", "created_at"], name="billing_usage_config_time", include=["cost"]),
            models.Index(fields=["model", "created_at"], name="billing_usage_model_time"),
        ]

    def __str__(self):
        return f"{self.request_id}#{self.attempt} {self.model_id} {self.status} {self.cost}"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class RequestLog(models.Model):
    """Prompt and answer text of one call, kept only where the config asks, for its retention."""

    usage = models.OneToOneField(
        UsageRecord, verbose_name=_("usage record"), on_delete=models.CASCADE, related_name="request_log"
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    prompt = models.TextField(_("prompt"))
    response = models.TextField(_("response"), blank=True)

    objects = SuperadminOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("request log")
        verbose_name_plural = _("request logs")
        ordering = ["-created_at"]

    def __str__(self):
        return f"log of {self.usage_id}"


class BudgetQuerySet(ShopScopedQuerySet):
    """Budgets of the person's shops and of their own configs; superadmins set them."""

    def visible_filter(self, user, shop_ids) -> Q:
        return Q(shop_id__in=shop_ids) | Q(config__owner=user)

    def manageable_by(self, user):
        return self if is_superadmin(user) else self.none()


class Budget(AuditedModel):
    """A monthly spending limit in CNY for one shop or one config."""

    scope = models.CharField(_("scope"), max_length=16, choices=BudgetScope.choices)
    shop = models.OneToOneField(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="ai_budget",
    )
    config = models.OneToOneField(
        ModelConfig, verbose_name=_("config"), on_delete=models.CASCADE, null=True, blank=True, related_name="budget"
    )
    monthly_limit = models.DecimalField(_("monthly limit (CNY)"), **MONEY)
    is_active = models.BooleanField(_("active"), default=True)

    objects = BudgetQuerySet.as_manager()

    class Meta:
        verbose_name = _("budget")
        verbose_name_plural = _("budgets")
        ordering = ["scope", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="shop", shop__isnull=False, config__isnull=True)
                           | Q(scope="config", config__isnull=False, shop__isnull=True)),
                name="%(app_label)s_%(class)s_one_target",
            ),
            models.CheckConstraint(condition=Q(monthly_limit__gte=0), name="%(app_label)s_%(class)s_not_negative"),
        ]

    def __str__(self):
        return f"{self.shop or self.config}: {self.monthly_limit} CNY / month"

    def clean(self):
        # Errors on the fields at fault: the check constraints behind them are then not checked
        # again, so the form does not also show their names ("billing_budget_one_target").
        if self.monthly_limit is not None and self.monthly_limit < 0:
            raise ValidationError({"monthly_limit": _("Cannot be negative.")})
        if self.scope == BudgetScope.SHOP and (not self.shop_id or self.config_id):
            field = "config" if self.config_id else "shop"
            raise ValidationError({field: _("A shop budget names a shop and no config.")})
        if self.scope == BudgetScope.CONFIG and (not self.config_id or self.shop_id):
            field = "shop" if self.shop_id else "config"
            raise ValidationError({field: _("A config budget names a config and no shop.")})


class SpendCounter(models.Model):
    """Running totals of one quota or budget period: requests, money reserved by calls in flight, money spent.

    Rows are locked while a call reserves and settles, so concurrent calls cannot overspend.
    """

    scope = models.CharField(_("scope"), max_length=16, choices=CounterScope.choices)
    scope_id = models.BigIntegerField(_("user, shop or config id"))
    period = models.CharField(_("period"), max_length=10, help_text=_("YYYY-MM-DD or YYYY-MM."))
    requests = models.PositiveIntegerField(_("requests"), default=0)
    reserved = models.DecimalField(_("reserved (CNY)"), default=Decimal("0"), **MONEY)
    spent = models.DecimalField(_("spent (CNY)"), default=Decimal("0"), **MONEY)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = SuperadminOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("spend counter")
        verbose_name_plural = _("spend counters")
        constraints = [
            models.UniqueConstraint(fields=["scope", "scope_id", "period"], name="%(app_label)s_%(class)s_unique"),
        ]

    def __str__(self):
        return f"{self.scope}:{self.scope_id}:{self.period}"
