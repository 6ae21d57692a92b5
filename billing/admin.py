"""Admin for providers, models, configs (key write-only), prices, budgets, usage (read-only, totals, chart)."""

import copy
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customer_service.shops.selectors import is_shop_admin_anywhere
from kefu.admin import ReadOnlyAdminMixin, ScopedModelAdmin
from kefu.api.parsers import json_too_deep, too_deep_message

from . import breaker, egress, selectors, services
from .charts import daily_svg
from .models import (
    AIModel,
    Budget,
    ModelConfig,
    ModelPricing,
    Provider,
    RequestLog,
    ShopModelChoice,
    SpendCounter,
    UsageRecord,
)
from .validators import validate_api_key, validate_extra_headers


class SuperadminOnlyAdminMixin:
    """Prompts, answers and ledger rows are for superadmins only."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and request.user.is_superadmin

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)


@admin.register(Provider)
class ProviderAdmin(ScopedModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["code", "name", "api_style", "default_base_url", "enabled"]
    list_filter = ["api_style", "enabled"]
    search_fields = ["code", "name"]


@admin.register(AIModel)
class AIModelAdmin(ScopedModelAdmin):
    list_display = ["code", "name", "provider", "model_type", "enabled"]
    list_filter = ["provider", "model_type", "enabled"]
    search_fields = ["code", "name"]
    list_select_related = ["provider"]


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value: what was typed is not sent back, not even after an error."""

    def format_value(self, value):
        return None


class BoundedJSONField(forms.JSONField):
    """A JSON form field that refuses deep nesting with a message (json.loads raises RecursionError)."""

    def to_python(self, value):
        try:
            value = super().to_python(value)
        except RecursionError:
            raise ValidationError(too_deep_message(), code="too_deep") from None
        if json_too_deep(value):
            raise ValidationError(too_deep_message(), code="too_deep")
        return value

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # re-parsed when the form is shown again with its errors
            return forms.fields.InvalidJSONInput(data)


class ModelConfigForm(forms.ModelForm):
    """The key and extra headers are write-only: the form never shows them; blank keeps what is stored."""

    # The model validates the stored fields; the form shows their errors on the fields typed into.
    WRITE_ONLY = {"api_key": "new_api_key", "extra_headers": "new_extra_headers"}

    new_api_key = forms.CharField(
        label=_("API key"), required=False, strip=True, validators=[validate_api_key],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only. Leave blank to keep the stored key."),
    )
    base_url = forms.URLField(label=_("base URL"), required=False, assume_scheme="https",
                              help_text=_("Empty: the provider's."))
    new_extra_headers = BoundedJSONField(
        label=_("extra headers"), required=False, validators=[validate_extra_headers],
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text=_('Write-only JSON object, e.g. {"HTTP-Referer": "https://shop.example"}; blank keeps.'),
    )

    def add_error(self, field, error):
        if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            error = ValidationError({self.WRITE_ONLY.get(name, name): errors
                                     for name, errors in error.error_dict.items()})
        elif field in self.WRITE_ONLY:
            field = self.WRITE_ONLY[field]
        super().add_error(field, error)

    def clean(self):
        cleaned = super().clean()
        # Put the write-only values on the instance before the model's own validation runs
        # (an active config needs a key: a key typed in this form counts).
        if cleaned.get("new_api_key"):
            self.instance.api_key = cleaned["new_api_key"]
        if cleaned.get("new_extra_headers") is not None:
            self.instance.extra_headers = cleaned["new_extra_headers"]
        self._check_base_url(cleaned)
        return cleaned

    # The person editing (ModelConfigAdmin.get_form sets it): a new config of a non-superadmin is theirs.
    actor = None

    def _check_base_url(self, cleaned):
        """The URL the config would call, checked like the service does (billing.egress), as a field error."""
        config = copy.copy(self.instance)
        for name in ("provider", "base_url", "owner"):
            if name in cleaned:
                setattr(config, name, cleaned[name])
        actor = self.actor
        if config.pk is None and actor is not None and not actor.is_superadmin:
            config.owner = actor
        if config.provider_id is None:
            return
        try:
            egress.validate_config_url(config)
        except ValidationError as exc:
            self.add_error(None, exc)

    class Meta:
        model = ModelConfig
        fields = ["name", "provider", "model_code", "model", "owner", "capability", "base_url", "temperature",
                  "max_tokens", "timeout_seconds", "max_retries", "is_default", "priority", "is_active",
                  "log_requests", "log_retention_days"]


@admin.register(ModelConfig)
class ModelConfigAdmin(ScopedModelAdmin):
    form = ModelConfigForm
    list_display = ["name", "provider", "model_code", "capability", "owner", "is_default", "priority", "is_active",
                    "masked_key", "breaker_state", "last_test_ok", "last_tested_at"]
    list_filter = ["capability", "is_active", "is_default", "provider"]
    search_fields = ["name", "model_code"]
    list_select_related = ["provider", "owner"]
    raw_id_fields = ["owner", "model"]
    readonly_fields = ["masked_key", "header_names", "last_tested_at", "last_test_ok", "last_test_message"]
    actions = ["test_connection", "disable", "reset_breaker"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "model_code", "model", "owner", "capability"]}),
        (_("Credentials"), {"fields": ["masked_key", "new_api_key", "base_url", "header_names",
                                       "new_extra_headers"]}),
        (_("Parameters"), {"fields": ["temperature", "max_tokens", "timeout_seconds", "max_retries"]}),
        (_("Routing"), {"fields": ["is_default", "priority", "is_active"]}),
        (_("Request log"), {"fields": ["log_requests", "log_retention_days"]}),
        (_("Last test"), {"fields": ["last_tested_at", "last_test_ok", "last_test_message"]}),
    ]

    @admin.display(description=_("stored API key"))
    def masked_key(self, obj):
        return obj.api_key_masked or "—"

    @admin.display(description=_("extra header names"))
    def header_names(self, obj):
        return ", ".join(sorted(obj.extra_headers or {})) or "—"

    @admin.display(description=_("breaker"))
    def breaker_state(self, obj):
        return breaker.state(obj.pk)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # On the view-only page the write-only inputs would show as "None": the stored key and
        # header names above them already say what there is.
        write_only = set(ModelConfigForm.WRITE_ONLY.values())
        return [(name, {**options, "fields": [f for f in options["fields"] if f not in write_only]})
                for name, options in fieldsets]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Without the admin's transaction around the whole page: checking the base URL looks its
        # host up on the network, which must not hold the database; model_config_save opens its
        # own transaction for the writes (a config has no inlines to keep together).
        return self._changeform_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superadmin:
            # Whose key a config holds decides who may use it: emptying the owner would turn a
            # private key into a system-wide config. Only superadmins change it (the service checks too).
            readonly.append("owner")
        return readonly

    def save_model(self, request, obj, form, change):
        if not change and not request.user.is_superadmin:
            obj.owner = request.user
        services.model_config_save(
            actor=request.user, config=obj, api_key=form.cleaned_data.get("new_api_key") or None,
            extra_headers=form.cleaned_data.get("new_extra_headers"),
        )

    @admin.action(description=_("Test connection (one real, cheap call)"))
    def test_connection(self, request, queryset):
        for config in queryset:
            ok, message = services.model_config_test(config=config)
            self.message_user(request, f"{config}: {message}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description=_("Disable (take out of routing)"))
    def disable(self, request, queryset):
        for config in queryset:
            services.model_config_disable(actor=request.user, config=config)
        self.message_user(request, _("%(n)d configs disabled.") % {"n": queryset.count()}, messages.SUCCESS)

    @admin.action(description=_("Reset circuit breaker"))
    def reset_breaker(self, request, queryset):
        for config in queryset:
            breaker.reset(config.pk)
        self.message_user(request, _("Breakers reset."), messages.SUCCESS)


@admin.register(ModelPricing)
class ModelPricingAdmin(ScopedModelAdmin):
    list_display = ["model", "pricing_type", "unit_price", "currency", "effective_from", "effective_to", "note"]
    list_filter = ["pricing_type", "currency", "model__provider"]
    search_fields = ["model__code"]
    list_select_related = ["model__provider"]
    raw_id_fields = ["model"]
    date_hierarchy = "effective_from"

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.PRICE_FIELDS if name in form.cleaned_data}
        if change:
            services.pricing_update(actor=request.user, pricing=ModelPricing.objects.get(pk=obj.pk), **fields)
        else:
            obj.pk = services.pricing_create(actor=request.user, **fields).pk
            obj._state.adding = False

    def delete_model(self, request, obj):
        services.pricing_delete(actor=request.user, pricing=obj)

    def delete_queryset(self, request, queryset):
        for price in queryset:
            services.pricing_delete(actor=request.user, pricing=price)


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["created_at", "usage_type", "model", "config_name", "shop", "user", "status", "error_code",
                    "input_tokens", "output_tokens", "cost", "latency_ms", "attempt", "message_ref"]
    list_filter = ["status", "usage_type", "error_code", "model__provider", "shop"]
    search_fields = ["request_id", "config_name", "model__code", "user__username"]
    list_select_related = ["model__provider", "shop", "user"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if not context or "cl" not in context:
            return response
        queryset = context["cl"].queryset
        context["usage_totals"] = selectors.usage_totals(queryset)
        # The chart covers the filtered rows of the last 31 days (or the period filtered on).
        if not any(key.startswith("created_at") for key in request.GET):
            queryset = queryset.filter(created_at__gte=timezone.now() - timedelta(days=31))
        context["usage_chart"] = daily_svg(selectors.usage_grouped(queryset, by="day"))
        return response


@admin.register(RequestLog)
class RequestLogAdmin(SuperadminOnlyAdminMixin, ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["created_at", "usage"]
    list_select_related = ["usage"]
    raw_id_fields = ["usage"]


@admin.register(Budget)
class BudgetAdmin(ScopedModelAdmin):
    list_display = ["scope", "shop", "config", "monthly_limit", "is_active", "updated_at"]
    list_filter = ["scope", "is_active"]
    list_select_related = ["shop", "config"]
    raw_id_fields = ["config"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += ["scope", "shop", "config"]  # another target is another budget (and counter)
        return readonly

    def save_model(self, request, obj, form, change):
        services.budget_save(actor=request.user, budget=obj)


@admin.register(SpendCounter)
class SpendCounterAdmin(SuperadminOnlyAdminMixin, ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["scope", "scope_id", "period", "requests", "reserved", "spent", "updated_at"]
    list_filter = ["scope", "period"]


@admin.register(ShopModelChoice)
class ShopModelChoiceAdmin(ScopedModelAdmin):
    """The config field is a list of what the person may assign (system-wide configs and their own key),
    the shop field of the shops they administer; both are checked again on save (the service)."""

    list_display = ["shop", "capability", "config"]
    list_select_related = ["shop", "config"]

    def has_add_permission(self, request):
        # Administering a shop is enough: its first choice has no row to "change" yet. Asked on every
        # admin page (the sidebar): answered from the person's cached roles, without a query.
        user = request.user
        return self._is_member(request) and (user.is_superadmin or is_shop_admin_anywhere(user=user))

    def save_model(self, request, obj, form, change):
        services.shop_model_choice_save(actor=request.user, choice=obj)
