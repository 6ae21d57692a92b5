"""Versioned configuration: categories, JSON-schema templates, configs with history, typed system configs."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import InputCharField, InputTextField
from kefu.models import AuditedModel, TimestampedModel
from kefu.scoping import CatalogueQuerySet, is_signed_in, is_superadmin

from .choices import ConfigScope, HistoryAction, ValueType
from .constants import DEFAULT_CONFIG_KEY


class ConfigCategory(TimestampedModel):
    """A folder in the tree that groups templates (e.g. "AI / prompts")."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = InputCharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    description = InputTextField(_("description"), blank=True)
    sort_order = models.IntegerField(_("sort order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        verbose_name = _("config category")
        verbose_name_plural = _("config categories")
        ordering = ["sort_order", "name"]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        node, seen = self.parent, set()
        while node is not None:
            if (node.pk == self.pk and self.pk is not None) or node.pk in seen:
                raise ValidationError({"parent": _("A category cannot be its own ancestor.")})
            seen.add(node.pk)
            node = node.parent


class ConfigTemplate(AuditedModel):
    """A kind of configuration: the JSON Schema its values must satisfy, and their defaults.

    A property marked ``"writeOnly": true`` in the schema is a secret: it is
    stored encrypted and only ever shown masked. Marking a field secret
    encrypts it in existing configs; unmarking it leaves each config's secret
    encrypted and masked until someone saves a new value there.
    """

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = InputCharField(_("name"), max_length=100)
    category = models.ForeignKey(
        ConfigCategory,
        verbose_name=_("category"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="templates",
    )
    description = InputTextField(_("description"), blank=True)
    schema = models.JSONField(_("JSON schema"), default=dict)
    defaults = models.JSONField(_("default values"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    is_system = models.BooleanField(
        _("system template"), default=False, help_text=_("Shipped with kefu; cannot be deleted.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        verbose_name = _("config template")
        verbose_name_plural = _("config templates")
        ordering = ["category__sort_order", "name"]

    def __str__(self):
        return self.name

    def secret_paths(self) -> list[str]:
        from .schema import secret_paths

        return secret_paths(self.schema)


class UserConfigQuerySet(ShopScopedQuerySet):
    """A person's own configs and their shops' configs; shop admins change their shops', agents none."""

    def visible_filter(self, user, shop_ids) -> Q:
        return Q(user=user) | Q(shop_id__in=shop_ids)

    def manageable_filter(self, user, admin_shop_ids) -> Q:
        return Q(user=user) | Q(shop_id__in=admin_shop_ids)

    def expired(self, now=None):
        return self.filter(expires_at__isnull=False, expires_at__lte=now or timezone.now())

    def due_to_expire(self, now=None):
        return self.expired(now).filter(is_active=True)


class UserConfig(AuditedModel):
    """One set of values for a template, owned by a user or by a shop, with a version number.

    ``values`` holds the document as stored: secret fields (``encrypted_paths``)
    are ciphertext strings. Change it only through ``configs.services``.
    """

    template = models.ForeignKey(
        ConfigTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="configs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="configs",
    )
    shop = models.ForeignKey(
        "customer_service.Shop",
        verbose_name=_("shop"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="configs",
    )
    key = models.SlugField(_("key"), max_length=64, default=DEFAULT_CONFIG_KEY)
    display_name = InputCharField(_("display name"), max_length=200, blank=True)
    values = models.JSONField(_("values"), default=dict, blank=True)
    encrypted_paths = models.JSONField(_("encrypted field paths"), default=list, blank=True, editable=False)
    scope = models.CharField(_("scope"), max_length=16, choices=ConfigScope.choices, default=ConfigScope.GLOBAL)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    objects = UserConfigQuerySet.as_manager()

    class Meta:
        verbose_name = _("config")
        verbose_name_plural = _("configs")
        ordering = ["template__name", "key", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(shop__isnull=True))
                | (Q(user__isnull=True) & Q(shop__isnull=False)),
                name="%(app_label)s_%(class)s_one_owner",
                violation_error_message=_("A config belongs to exactly one user or one shop."),
            ),
            models.UniqueConstraint(
                fields=["user", "template", "key"],
                condition=Q(user__isnull=False),
                name="%(app_label)s_%(class)s_unique_user_template_key",
                violation_error_message=_("This user already has a config with this template and key."),
            ),
            models.UniqueConstraint(
                fields=["shop", "template", "key"],
                condition=Q(shop__isnull=False),
                name="%(app_label)s_%(class)s_unique_shop_template_key",
                violation_error_message=_("This shop already has a config with this template and key."),
            ),
            models.CheckConstraint(
                condition=~Q(scope=ConfigScope.TEMPORARY) | Q(expires_at__isnull=False),
                name="%(app_label)s_%(class)s_temporary_expires",
                violation_error_message=_("A temporary config needs an expiry time."),
            ),
        ]
        indexes = [models.Index(fields=["is_active", "expires_at"], name="configs_userconfig_expiry")]

    def __str__(self):
        return f"{self.display_name or self.template.name} · {self.owner_label} · {self.key}"

    @property
    def owner_label(self) -> str:
        return f"shop:{self.shop}" if self.shop_id else f"user:{self.user}"

    def secret_paths(self) -> list[str]:
        """What is masked or left out wherever the config is shown or exported.

        The template's secret fields as they are now, plus the paths this row
        stored encrypted: a field can become secret after a config was written, or
        stop being secret while the config still holds its ciphertext.
        """
        return sorted(set(self.template.secret_paths()) | set(self.encrypted_paths or []))

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def clean(self):
        from django.core.exceptions import ValidationError

        if (self.user_id is None) == (self.shop_id is None):
            raise ValidationError(_("A config belongs to exactly one user or one shop."))
        if self.scope == ConfigScope.TEMPORARY and self.expires_at is None:
            raise ValidationError({"expires_at": _("A temporary config needs an expiry time.")})
        if self.scope == ConfigScope.GLOBAL and self.expires_at is not None:
            raise ValidationError({"expires_at": _("A global config does not expire; choose a temporary scope.")})


class ConfigHistoryQuerySet(models.QuerySet):
    def for_user(self, user):
        if not is_signed_in(user):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(config__in=UserConfig.objects.for_user(user))

    def manageable_by(self, user):
        return self.none()  # history is append-only

    def orphaned(self):
        return self.filter(config__isnull=True)


class ConfigHistory(models.Model):
    """One change to a config: who, when, why, from where, and the values before and after (secrets masked).

    ``snapshot`` keeps the stored document of ``version`` (secrets as
    ciphertext, never clear) so a rollback can restore it exactly; it is not
    shown anywhere.
    """

    config = models.ForeignKey(
        UserConfig, verbose_name=_("config"), on_delete=models.SET_NULL, null=True, blank=True, related_name="history"
    )
    config_ref = models.PositiveBigIntegerField(_("config id"), db_index=True, editable=False)
    template = models.ForeignKey(
        ConfigTemplate, verbose_name=_("template"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=16, choices=HistoryAction.choices)
    version = models.PositiveIntegerField(_("version"))
    old_values = models.JSONField(_("old values"), null=True, blank=True)
    new_values = models.JSONField(_("new values"), null=True, blank=True)
    snapshot = models.JSONField(_("stored values"), null=True, blank=True, editable=False)
    reason = InputCharField(_("reason"), max_length=500, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = ConfigHistoryQuerySet.as_manager()

    class Meta:
        verbose_name = _("config history")
        verbose_name_plural = _("config history")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["config_ref", "version"], name="configs_history_ref_version")]

    def __str__(self):
        return f"#{self.config_ref} v{self.version} {self.get_action_display()}"


class SystemConfigQuerySet(models.QuerySet):
    def public(self):
        return self.filter(is_public=True)

    def for_user(self, user):
        """Public keys for anyone (signed in or not); every key for a superadmin."""
        return self if is_superadmin(user) else self.public()

    def manageable_by(self, user):
        return self if is_superadmin(user) else self.none()


class SystemConfig(AuditedModel):
    """One typed, site-wide setting (e.g. ``pipeline.batch_size`` = 20, an int).

    ``value`` holds the text form; with ``is_encrypted`` it is ciphertext.
    Read it through ``configs.selectors.system_config_value``.
    """

    key = models.CharField(
        _("key"),
        max_length=100,
        unique=True,
        # The API's rule, here so the admin and the imports keep to it too (the key is also a cache key).
        validators=[RegexValidator(
            r"^[a-z0-9][a-z0-9_.\-]*$",
            _("Use lower-case letters, digits, dots, underscores and hyphens, e.g. pipeline.batch_size."),
        )],
        help_text=_("Lower-case words joined by dots or underscores, e.g. pipeline.batch_size."),
    )
    value_type = models.CharField(_("type"), max_length=8, choices=ValueType.choices, default=ValueType.STRING)
    value = models.TextField(_("value"), blank=True)
    description = InputTextField(_("description"), blank=True)
    is_public = models.BooleanField(_("public"), default=False, help_text=_("Readable without signing in."))
    is_encrypted = models.BooleanField(_("encrypted"), default=False, help_text=_("A secret: stored encrypted."))
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    objects = SystemConfigQuerySet.as_manager()

    class Meta:
        verbose_name = _("system config")
        verbose_name_plural = _("system configs")
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(is_public=True) & Q(is_encrypted=True)), name="%(app_label)s_%(class)s_secret_not_public",
                violation_error_message=_("A secret system config cannot be public."),
            ),
        ]

    def __str__(self):
        return self.key


class SystemConfigHistoryQuerySet(models.QuerySet):
    def for_user(self, user):
        return self if is_superadmin(user) else self.none()

    def manageable_by(self, user):
        return self.none()  # append-only


class SystemConfigHistory(models.Model):
    """One change to a system config: the typed value before and after (a secret masked), who, why, from where.

    ``snapshot`` keeps the stored text of ``version`` (ciphertext for a secret)
    so a rollback can restore it; it is not shown anywhere.
    """

    system_config = models.ForeignKey(
        SystemConfig, verbose_name=_("system config"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="history",
    )
    key = models.CharField(_("key"), max_length=100, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=16, choices=HistoryAction.choices)
    version = models.PositiveIntegerField(_("version"))
    value_type = models.CharField(_("type"), max_length=8, choices=ValueType.choices)
    is_encrypted = models.BooleanField(_("encrypted"), default=False)
    old_value = models.JSONField(_("old value"), null=True, blank=True)
    new_value = models.JSONField(_("new value"), null=True, blank=True)
    snapshot = models.TextField(_("stored value"), blank=True, editable=False)
    reason = InputCharField(_("reason"), max_length=500, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = SystemConfigHistoryQuerySet.as_manager()

    class Meta:
        verbose_name = _("system config history")
        verbose_name_plural = _("system config history")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.key} v{self.version} {self.get_action_display()}"
