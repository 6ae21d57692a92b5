from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kefu.admin import ScopedModelAdmin, SoftDeleteAdminMixin, scoped_raw_id_widget
from kefu.exceptions import KefuError

from . import services
from .models import Shop, ShopMembership
from .selectors import shop_member_candidates


class MemberCandidatesMixin:
    """The raw-id ``user`` field accepts only people the person may add to a shop."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = shop_member_candidates(actor=request.user)
            # Names shown beside the box: people the person sees anyway, never one typed in blind.
            kwargs["widget"] = scoped_raw_id_widget(db_field, self.admin_site, request, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ShopMembershipInlineForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A saved row keeps its person: changing it would give the new person a
            # membership and leave the old one. Delete the row and add one instead.
            field = self.fields["user"]
            field.disabled = True
            field.queryset = field.queryset.model._default_manager.filter(pk=self.instance.user_id)


class ShopMembershipInline(MemberCandidatesMixin, admin.TabularInline):
    model = ShopMembership
    form = ShopMembershipInlineForm
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "role"]


@admin.register(Shop)
class ShopAdmin(SoftDeleteAdminMixin, ScopedModelAdmin):
    """Shops and their members. Deleting hides a shop with all it owns (restorable); a purge of a
    deleted shop, after a confirmation page listing it, removes it for good. Writes go through the services."""

    list_display = ["name", "qianniu_title", "is_active", "settings_link", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "qianniu_title"]
    inlines = [ShopMembershipInline]
    readonly_fields = ["settings_link"]

    @admin.display(description=_("settings"))
    def settings_link(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:configs_userconfig_shop_settings", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Thresholds, rules and history"))

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superadmin

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services.SHOP_FIELDS}
        if change:
            services.shop_update(actor=request.user, shop=Shop.all_objects.get(pk=obj.pk), **fields)
        else:
            created = services.shop_create(actor=request.user, **fields)
            obj.pk, obj._state.adding = created.pk, False

    def save_formset(self, request, form, formset, change):
        memberships = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            services.shop_membership_remove(actor=request.user, shop=deleted.shop, user=deleted.user)
        for membership in memberships:
            services.shop_membership_set(
                actor=request.user, shop=form.instance, user=membership.user, role=membership.role
            )

    def delete_model(self, request, obj):
        services.shop_delete(actor=request.user, shop=obj)

    def delete_queryset(self, request, queryset):
        for shop in queryset.filter(deleted_at__isnull=True):
            services.shop_delete(actor=request.user, shop=shop)

    @admin.action(description=_("Restore selected (undo delete)"))
    def restore_selected(self, request, queryset):
        count = 0
        for shop in queryset.filter(deleted_at__isnull=False):
            services.shop_restore(actor=request.user, shop=shop)
            count += 1
        self.message_user(
            request, ngettext("%(n)d row restored.", "%(n)d rows restored.", count) % {"n": count}, messages.SUCCESS
        )

    def purge_rows(self, request, queryset) -> int:
        """The confirmation page listed these shops by name: that is the confirmation the purge asks for."""
        alive = queryset.filter(deleted_at__isnull=True)
        if alive.exists():
            raise KefuError(_("Delete %(shops)s first; only deleted shops can be purged.")
                            % {"shops": ", ".join(str(shop) for shop in alive)}, code="shop_not_deleted")
        count = 0
        for shop in queryset:
            services.shop_purge(actor=request.user, shop=shop, confirm_name=shop.name)
            count += 1
        return count


@admin.register(ShopMembership)
class ShopMembershipAdmin(MemberCandidatesMixin, ScopedModelAdmin):
    list_display = ["shop", "user", "role", "created_at"]
    list_filter = ["role", "shop"]
    search_fields = ["user__username", "shop__name"]
    list_select_related = ["shop", "user"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request):
        return self.has_change_permission(request)

    def get_readonly_fields(self, request, obj=None):
        # shop_membership_set() finds the row by shop and person: changing either
        # would add a membership and leave this one. Delete it and add one instead.
        if obj is not None:
            return [*super().get_readonly_fields(request, obj), "shop", "user"]
        return super().get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change):
        services.shop_membership_set(actor=request.user, shop=obj.shop, user=obj.user, role=obj.role)

    def delete_model(self, request, obj):
        services.shop_membership_remove(actor=request.user, shop=obj.shop, user=obj.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("shop", "user"):
            services.shop_membership_remove(actor=request.user, shop=membership.shop, user=membership.user)
