"""Admin: schema-generated value forms, version history with diffs, rollback. Writes go through configs.services."""

import functools
import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customer_service.shops.models import Shop
from customer_service.shops.selectors import shop_is_manageable
from kefu.admin import ReadOnlyAdminMixin, ScopedModelAdmin, checks_own_permissions

from . import selectors, services
from .audit import request_meta
from .exceptions import ConfigError
from .forms import ConfigTemplateForm, SystemConfigForm, UserConfigAddForm, UserConfigChangeForm
from .models import ConfigCategory, ConfigHistory, ConfigTemplate, SystemConfig, SystemConfigHistory, UserConfig


class ServiceErrorsMixin:
    """A refusal from a service (conflict, rule) comes back to the page as a message, never as a 500.

    Each action runs in one transaction: one refusal changes nothing.
    """

    def get_actions(self, request):
        # Every action: a refusal of one row is a message and undoes the others.
        return {name: (self._refusals_as_messages(func), name, description)
                for name, (func, name, description) in super().get_actions(request).items()}

    def _refusals_as_messages(self, action):
        @functools.wraps(action)
        def guarded(modeladmin, request, queryset):
            try:
                with transaction.atomic():
                    return action(modeladmin, request, queryset)
            except ConfigError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None

        return guarded

    def _delete_each(self, queryset, delete) -> None:
        """``delete(obj)`` for each row; a refusal names the row (the caller's transaction undoes the others)."""
        for obj in queryset:
            try:
                delete(obj)
            except ConfigError as exc:
                raise ConfigError(_("“%(obj)s” cannot be deleted: %(why)s Nothing was deleted.")
                                  % {"obj": obj, "why": exc.message}, code=exc.code) from None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ConfigError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ConfigError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))


@admin.register(ConfigCategory)
class ConfigCategoryAdmin(ScopedModelAdmin):
    list_display = ["name", "code", "parent", "sort_order", "is_active"]
    list_select_related = ["parent"]
    list_filter = ["is_active", "parent"]
    search_fields = ["name", "code"]
    list_editable = ["sort_order"]
    ordering = ["sort_order", "name"]


@admin.register(ConfigTemplate)
class ConfigTemplateAdmin(ServiceErrorsMixin, ScopedModelAdmin):
    form = ConfigTemplateForm
    list_display = ["name", "code", "category", "version", "is_system", "is_active", "updated_at"]
    list_filter = ["category", "is_system", "is_active"]
    search_fields = ["name", "code"]
    list_select_related = ["category"]
    readonly_fields = ["version", "secret_paths"]

    @admin.display(description=_("secret fields"))
    def secret_paths(self, obj):
        return ", ".join(obj.secret_paths()) or "—"

    def save_model(self, request, obj, form, change):
        # The admin's generated form lists the read-only fields too (version, secret fields): send the
        # services only what the person can edit.
        data = {name: form.cleaned_data[name] for name in ConfigTemplateForm.Meta.fields}
        if change:
            template = ConfigTemplate.objects.get(pk=obj.pk)
            services.template_update(template=template, actor=request.user, **data)
        else:
            obj.pk = services.template_create(actor=request.user, **data).pk
            obj._state.adding = False

    def delete_model(self, request, obj):
        services.template_delete(template=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        self._delete_each(queryset, lambda template: services.template_delete(template=template, actor=request.user))


class ExpiredFilter(admin.SimpleListFilter):
    title = _("expired")
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return (("yes", _("Expired")), ("no", _("Not expired")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.expired()
        if self.value() == "no":
            return queryset.exclude(pk__in=queryset.expired().values("pk"))
        return queryset


class OwnerFilter(admin.SimpleListFilter):
    title = _("owner")
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return (("shop", _("A shop")), ("user", _("A user")))

    def queryset(self, request, queryset):
        if self.value() == "shop":
            return queryset.filter(shop__isnull=False)
        if self.value() == "user":
            return queryset.filter(user__isnull=False)
        return queryset


@admin.register(UserConfig)
class UserConfigAdmin(ServiceErrorsMixin, ScopedModelAdmin):
    list_display = ["__str__", "template", "owner", "key", "scope", "is_active", "expired", "version", "updated_at",
                    "versions_link"]
    list_filter = ["scope", ExpiredFilter, "template", "is_active", OwnerFilter, "shop"]
    search_fields = ["key", "display_name", "template__code", "template__name", "user__username", "shop__name"]
    list_select_related = ["template", "user", "shop"]
    raw_id_fields = ["user"]
    actions = ["activate_selected", "deactivate_selected"]

    # --- forms -----------------------------------------------------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = UserConfigChangeForm if obj is not None else UserConfigAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["template", "user", "shop", "key", "display_name", "scope", "expires_at",
                                       "is_active", "reason"],
                            "description": _("Values start from the template's defaults; edit them on the next "
                                             "page.")})]
        if not self.has_change_permission(request, obj):
            return [(None, {"fields": ["template", "owner", "key", "version", "versions_link", "display_name",
                                       "masked_values", "scope", "expires_at", "is_active"]})]
        return [
            (None, {"fields": ["template", "owner", "key", "version", "versions_link"]}),
            (_("Values"), {"fields": ["display_name", "values", "scope", "expires_at", "is_active", "reason",
                                      "expected_version"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if not self.has_change_permission(request, obj):
            return ["template", "owner", "key", "version", "versions_link", "display_name", "masked_values",
                    "scope", "expires_at", "is_active"]
        return ["template", "owner", "key", "version", "versions_link"]

    @admin.display(description=_("values"))
    def masked_values(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(selectors.config_masked_values(config=obj),
                                                       ensure_ascii=False, indent=2))

    def has_add_permission(self, request):
        return self._is_member(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "shop":
            kwargs["queryset"] = Shop.objects.manageable_by(request.user)
        if db_field.name == "template":
            kwargs["queryset"] = ConfigTemplate.objects.filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- columns ----------------------------------------------------------------------
    @admin.display(description=_("owner"))
    def owner(self, obj):
        return obj.owner_label

    @admin.display(description=_("expired"), boolean=True)
    def expired(self, obj):
        return obj.is_expired

    @admin.display(description=_("history"))
    def versions_link(self, obj):
        if obj.pk is None:
            return "—"
        url = reverse("admin:configs_userconfig_versions", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("History, diff and rollback"))

    # --- writes through the services --------------------------------------------------
    def save_model(self, request, obj, form, change):
        data, meta = form.cleaned_data, request_meta(request)
        reason = data.get("reason", "")
        if not change:
            user, shop = data.get("user"), data.get("shop")
            created = services.config_create(
                actor=request.user, template=data["template"], user=user if user or shop else request.user,
                shop=shop, key=data["key"], display_name=data.get("display_name", ""), scope=data["scope"],
                expires_at=data.get("expires_at"), is_active=data.get("is_active", True), reason=reason, **meta,
            )
            obj.pk, obj.version, obj._state.adding = created.pk, created.version, False
            return
        # The fields the person changed: a value untouched on the page is not sent (a config written
        # before its template changed can still be renamed or switched off).
        changed = {name: data[name] for name in form.changed_data if name in UserConfigChangeForm.Meta.fields}
        services.config_change(config=obj, actor=request.user, expected_version=data.get("expected_version") or None,
                               reason=reason, **changed, **meta)

    def save_related(self, request, form, formsets, change):
        pass  # no relations to save; the service wrote everything

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, _("Created with the template's defaults; edit the values below."),
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:configs_userconfig_change", args=[obj.pk]))

    def delete_model(self, request, obj):
        services.config_delete(config=obj, actor=request.user, reason="admin", **request_meta(request))

    def delete_queryset(self, request, queryset):
        self._delete_each(queryset.select_related("template"), lambda config: services.config_delete(
            config=config, actor=request.user, reason="admin", **request_meta(request)))

    def _set_active(self, request, queryset, active: bool):
        count = 0
        for config in self.manageable_queryset(request).filter(pk__in=queryset.values("pk")).select_related(
                "template"):
            if config.is_active != active:
                try:
                    services.config_set_active(config=config, actor=request.user, active=active, reason="admin",
                                               **request_meta(request))
                except ConfigError as exc:
                    why = {"obj": config, "why": exc.message}
                    raise ConfigError(_("“%(obj)s”: %(why)s Nothing was changed.") % why, code=exc.code) from None
                count += 1
        self.message_user(request, ngettext("%(n)d config changed.", "%(n)d configs changed.", count) % {"n": count})

    @admin.action(description=_("Activate selected configs"))
    def activate_selected(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description=_("Deactivate selected configs"))
    def deactivate_selected(self, request, queryset):
        self._set_active(request, queryset, False)

    # --- history, diff and rollback page --------------------------------------------------
    def get_urls(self):
        return [
            path("shop-settings/<int:shop_id>/", self.admin_site.admin_view(self.shop_settings_view),
                 name="configs_userconfig_shop_settings"),
            path("<path:object_id>/versions/", self.admin_site.admin_view(self.versions_view),
                 name="configs_userconfig_versions"),
            *super().get_urls(),
        ]

    def shop_settings_view(self, request, shop_id):
        """Open a shop's settings (a stable link for the Shop page); the first visit by an admin creates them."""
        shop = get_object_or_404(Shop.objects.for_user(request.user), pk=shop_id)
        config = selectors.shop_settings_config(shop=shop)
        if config is None:
            if not shop_is_manageable(user=request.user, shop=shop):
                self.message_user(request, _("%(shop)s has no saved settings yet: the defaults apply.")
                                  % {"shop": shop}, messages.INFO)
                return HttpResponseRedirect(reverse("admin:configs_userconfig_changelist"))
            config = services.shop_settings_update(shop=shop, actor=request.user, values={},
                                                   reason=_("created with the defaults"), **request_meta(request))
        return HttpResponseRedirect(reverse("admin:configs_userconfig_change", args=[config.pk]))

    def versions_view(self, request, object_id):
        if not str(object_id).isdigit():
            raise Http404
        config = get_object_or_404(self.get_queryset(request).select_related("template"), pk=object_id)
        can_rollback = self.manageable_queryset(request).filter(pk=config.pk).exists()
        here = reverse("admin:configs_userconfig_versions", args=[config.pk])
        if request.method == "POST":
            if not can_rollback:
                raise PermissionDenied
            try:
                version = int(request.POST.get("version", ""))
                services.config_rollback(config=config, version=version, actor=request.user,
                                         expected_version=int(request.POST.get("expected_version") or config.version),
                                         reason=request.POST.get("reason", ""), **request_meta(request))
                self.message_user(request, _("Rolled back to version %(k)s, saved as version %(n)s.")
                                  % {"k": version, "n": config.version}, messages.SUCCESS)
            except ValueError:
                self.message_user(request, _("Choose a version."), messages.ERROR)
            except ConfigError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(here)

        history = list(selectors.config_history_list(config=config))
        versions = [h.version for h in history]

        def pick(name, fallback):
            try:
                value = int(request.GET.get(name, fallback))
            except (TypeError, ValueError):
                value = fallback
            return value if value in versions else fallback

        b = pick("b", config.version)
        a = pick("a", max([v for v in versions if v < b] or [b]))
        diff = selectors.config_versions_diff(config=config, from_version=a, to_version=b) if versions else []
        for row in diff:
            for side in ("old", "new"):
                row[f"{side}_text"] = "—" if row[side] is None else json.dumps(row[side], ensure_ascii=False)
        context = {
            **self.admin_site.each_context(request),
            "title": _("History of %(c)s") % {"c": config},
            "opts": self.opts,
            "original": config,
            "history": history,
            "a": a,
            "b": b,
            "diff": diff,
            "can_rollback": can_rollback,
            "now": timezone.now(),
        }
        return TemplateResponse(request, "admin/configs/userconfig/versions.html", context)


@admin.register(ConfigHistory)
class ConfigHistoryAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    """Read-only audit trail; one action rolls a config back to the selected row's version."""

    list_display = ["created_at", "config_ref", "config", "version", "action", "actor", "reason", "ip"]
    list_filter = ["action", "template", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["reason", "actor__username", "config__key", "=config_ref"]
    list_select_related = ["config__template", "config__user", "config__shop", "actor", "template"]  # config.__str__
    readonly_fields = ["config", "config_ref", "template", "actor", "action", "version", "old_values_display",
                       "new_values_display", "reason", "ip", "user_agent", "created_at"]
    fields = readonly_fields
    actions = ["rollback_to_version"]

    @admin.display(description=_("old values"))
    def old_values_display(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.old_values, ensure_ascii=False, indent=2))

    @admin.display(description=_("new values"))
    def new_values_display(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.new_values, ensure_ascii=False, indent=2))

    @checks_own_permissions
    @admin.action(description=_("Roll its config back to this version"))
    def rollback_to_version(self, request, queryset):
        rows = list(queryset[:2])
        if len(rows) != 1:
            self.message_user(request, _("Select exactly one history row."), messages.ERROR)
            return
        row = rows[0]
        config = UserConfig.objects.manageable_by(request.user).select_related("template").filter(
            pk=row.config_id).first()
        if config is None:
            self.message_user(request, _("You cannot change this config, or it was deleted."), messages.ERROR)
            return
        try:
            services.config_rollback(config=config, version=row.version, actor=request.user,
                                     reason=_("admin rollback"), **request_meta(request))
        except ConfigError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, _("Rolled back to version %(k)s, saved as version %(n)s.")
                          % {"k": row.version, "n": config.version}, messages.SUCCESS)


@admin.register(SystemConfig)
class SystemConfigAdmin(ServiceErrorsMixin, ScopedModelAdmin):
    form = SystemConfigForm
    list_display = ["key", "value_type", "shown_value", "is_public", "is_encrypted", "version", "updated_at"]
    list_filter = ["value_type", "is_public", "is_encrypted"]
    search_fields = ["key", "description"]
    fields = ["key", "value_type", "value_text", "description", "is_public", "is_encrypted", "expected_version"]
    # What someone who may only read the config sees: value_text and expected_version are form fields only.
    read_only_fields = ["key", "value_type", "shown_value", "description", "is_public", "is_encrypted", "version",
                        "updated_at"]

    def get_fields(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return self.read_only_fields
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return self.read_only_fields
        return super().get_readonly_fields(request, obj)

    @admin.display(description=_("value"))
    def shown_value(self, obj):
        value = selectors.system_config_masked(config=obj)
        return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {name: data[name] for name in ("value_type", "description", "is_public", "is_encrypted")}
        text = data.get("value_text", "")
        if change:
            config = SystemConfig.objects.get(pk=obj.pk)
            if not (config.is_encrypted and text == ""):
                fields["value"] = text
            services.system_config_update(config=config, actor=request.user,
                                          expected_version=data.get("expected_version") or None,
                                          **fields, **request_meta(request))
        else:
            created = services.system_config_create(actor=request.user, key=data["key"], value=text, **fields,
                                                    **request_meta(request))
            obj.pk, obj._state.adding = created.pk, False

    def delete_model(self, request, obj):
        services.system_config_delete(config=obj, actor=request.user, **request_meta(request))

    def delete_queryset(self, request, queryset):
        self._delete_each(queryset, lambda config: services.system_config_delete(
            config=config, actor=request.user, **request_meta(request)))


@admin.register(SystemConfigHistory)
class SystemConfigHistoryAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    """Read-only audit trail of system configs; one action rolls a key back to the selected version."""

    list_display = ["created_at", "key", "version", "action", "actor", "shown_old", "shown_new", "reason"]
    list_filter = ["action", "value_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["key", "reason", "actor__username"]
    list_select_related = ["actor"]
    readonly_fields = ["system_config", "key", "version", "action", "actor", "value_type", "is_encrypted",
                       "old_value", "new_value", "reason", "ip", "user_agent", "created_at"]
    fields = readonly_fields
    actions = ["rollback_to_version"]

    @admin.display(description=_("old value"))
    def shown_old(self, obj):
        return json.dumps(obj.old_value, ensure_ascii=False)

    @admin.display(description=_("new value"))
    def shown_new(self, obj):
        return json.dumps(obj.new_value, ensure_ascii=False)

    @checks_own_permissions
    @admin.action(description=_("Roll the system config back to this version"))
    def rollback_to_version(self, request, queryset):
        rows = list(queryset.select_related("system_config")[:2])
        if len(rows) != 1 or rows[0].system_config is None or not request.user.is_superadmin:
            self.message_user(request, _("Select exactly one row of a system config that still exists."),
                              messages.ERROR)
            return
        row = rows[0]
        try:
            config = services.system_config_rollback(config=row.system_config, version=row.version,
                                                     actor=request.user, **request_meta(request))
        except ConfigError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, _("Rolled back to version %(k)s, saved as version %(n)s.")
                          % {"k": row.version, "n": config.version}, messages.SUCCESS)
