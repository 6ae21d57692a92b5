from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from kefu.admin import ReadOnlyAdminMixin, ScopedModelAdmin

from . import selectors, services
from .models import LoginSession, User
from .throttling import LoginLocked, login_failure_record, login_success_record, login_throttle_check


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin sign-in form, with the same throttling as the API."""

    def clean(self):
        ip = services.client_ip(self.request) if self.request else None
        username = self.cleaned_data.get("username")
        try:
            login_throttle_check(ip=ip, username=username)
        except LoginLocked as exc:
            if self.request is not None:
                self.request.kefu_login_locked = exc  # the login view answers 429 with Retry-After
            raise ValidationError(exc.message, code="login_locked") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failure_record(ip=ip, username=username)
            raise
        login_success_record(ip=ip, username=username)
        return cleaned


admin.site.login_form = ThrottledAdminAuthenticationForm
_admin_login = admin.site.login


def _login_answering_429_when_locked(request, extra_context=None):
    """The admin's sign-in page; refused by the throttle, it is a 429 with Retry-After, as on the API."""
    response = _admin_login(request, extra_context)
    locked = getattr(request, "kefu_login_locked", None)
    if locked is not None:
        response.status_code = 429
        for name, value in locked.headers.items():
            response[name] = value
    return response


admin.site.login = _login_answering_429_when_locked
admin.site.unregister(Group)
# simplejwt's admin shows whole refresh tokens, which are credentials; sign-ins
# are managed (and revoked) through LoginSession instead.
admin.site.unregister(OutstandingToken)
admin.site.unregister(BlacklistedToken)


class UserChangeForm(DjangoUserChangeForm):
    def clean(self):
        cleaned = super().clean()
        user = self.instance
        stays = cleaned.get("is_active", user.is_active) and cleaned.get("is_superadmin", user.is_superadmin)
        if user.pk and not stays and selectors.user_is_last_superadmin(user=user):
            raise ValidationError(services.last_superadmin_message(user), code="last_superadmin")
        return cleaned


@admin.register(User)
class UserAdmin(ScopedModelAdmin, DjangoUserAdmin):
    form = UserChangeForm
    list_display = ["username", "email", "is_superadmin", "is_active", "daily_request_quota", "login_count",
                    "last_login_at"]
    list_filter = ["is_superadmin", "is_active"]
    search_fields = ["username", "email", "first_name", "last_name"]
    readonly_fields = ["login_count", "last_login_at", "last_login", "date_joined"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Role and quota"), {"fields": ("is_active", "is_superadmin", "is_staff", "daily_request_quota")}),
        (_("Activity"), {"fields": ("login_count", "last_login_at", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2", "is_superadmin")}),
    )
    # Removing people deactivates them (records name them); the delete page remains for
    # a deliberate delete, one person at a time, with the list of what goes too.
    actions = ["deactivate_selected"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            services.user_update(user=obj)
        else:
            services.user_apply_superadmin_flag(obj)
            super().save_model(request, obj, form, change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.LastSuperadmin as exc:  # the form checked; only a concurrent change gets here
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        user = self.get_object(request, unquote(object_id))
        if user is not None and self.has_delete_permission(request, user):
            change_url = reverse("admin:accounts_user_change", args=[user.pk])
            if selectors.user_is_last_superadmin(user=user):
                self.message_user(request, services.last_superadmin_message(user), messages.ERROR)
                return HttpResponseRedirect(change_url)
            try:
                return super().delete_view(request, object_id, extra_context)
            except services.LastSuperadmin as exc:  # a concurrent change
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(change_url)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        services.user_delete(user=obj)

    @admin.action(description=_("Deactivate selected people (ends their sign-ins)"))
    def deactivate_selected(self, request, queryset):
        count = 0
        for user in queryset.filter(is_active=True):
            try:
                services.user_deactivate(user=user)
            except services.LastSuperadmin as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(
                request,
                ngettext("%(n)d person deactivated.", "%(n)d people deactivated.", count) % {"n": count},
                messages.SUCCESS,
            )


@admin.register(LoginSession)
class LoginSessionAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["user", "kind", "ip", "device_info", "created_at", "last_activity_at", "expires_at", "state"]
    list_filter = ["kind", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "ip", "user_agent"]
    list_select_related = ["user"]
    readonly_fields = ["user", "kind", "ip", "user_agent", "device_info", "created_at", "last_activity_at",
                       "expires_at", "revoked_at"]
    fields = readonly_fields
    actions = ["revoke_selected"]

    @admin.display(description=_("state"))
    def state(self, obj):
        if obj.revoked_at:
            return _("revoked")
        return _("active") if obj.is_active else _("expired")

    @admin.action(description=_("Revoke selected sign-ins"))
    def revoke_selected(self, request, queryset):
        count = 0
        for login_session in queryset.filter(pk__in=self.manageable_queryset(request)):
            services.login_session_revoke(login_session=login_session)
            count += 1
        self.message_user(
            request,
            ngettext("%(n)d sign-in revoked.", "%(n)d sign-ins revoked.", count) % {"n": count},
            messages.SUCCESS,
        )

    def get_actions(self, request):
        # Revoking is a change, but the rows themselves are read-only.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
