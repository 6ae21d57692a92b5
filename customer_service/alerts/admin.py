"""Alerts in the admin: channels (shop admins manage their shops', superadmins the global ones), events (every
member of a shop sees its alerts) and deliveries (each message sent, failed or suppressed)."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from customer_service.models import AlertChannel, AlertDelivery, AlertDeliveryStatus, AlertEvent, AlertKind
from customer_service.shops.selectors import is_shop_admin_anywhere
from kefu.admin import ScopedModelAdmin
from kefu.exceptions import KefuError

from . import services


class AlertChannelForm(forms.ModelForm):
    """The webhook URL and the secret are write-only: never shown; blank keeps what is stored."""

    WRITE_ONLY = {"webhook_url": "new_webhook_url", "secret": "new_secret"}

    new_webhook_url = forms.CharField(
        label=_("webhook URL"), required=False, strip=True, max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text=_("Write-only (it holds the robot's access token). Leave blank to keep the stored one."),
    )
    new_secret = forms.CharField(
        label=_("signing secret"), required=False, strip=True, max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only. DingTalk's or Feishu's signing secret; leave blank to keep the stored one."),
    )
    clear_secret = forms.BooleanField(label=_("remove the stored secret"), required=False)
    event_kinds = forms.MultipleChoiceField(
        label=_("alert kinds"), required=False, choices=AlertKind.choices, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every kind."),
    )

    actor = None  # set by AlertChannelAdmin.get_form

    class Meta:
        model = AlertChannel
        fields = ["shop", "name", "kind", "recipients", "event_kinds", "is_active"]

    def add_error(self, field, error):
        if isinstance(error, forms.ValidationError) and hasattr(error, "error_dict"):
            error = forms.ValidationError({self.WRITE_ONLY.get(name, name): errors
                                           for name, errors in error.error_dict.items()})
        elif field in self.WRITE_ONLY:
            field = self.WRITE_ONLY[field]
        super().add_error(field, error)

    def clean(self):
        cleaned = super().clean()
        # The write-only values go on the instance before the model's own validation (ModelForm._post_clean).
        if cleaned.get("new_webhook_url"):
            self.instance.webhook_url = cleaned["new_webhook_url"]
        if cleaned.get("clear_secret"):
            self.instance.secret = ""
        elif cleaned.get("new_secret"):
            self.instance.secret = cleaned["new_secret"]
        if "shop" in self.fields and cleaned.get("shop") is None and self.actor is not None \
                and not self.actor.is_superadmin:
            self.add_error("shop", _("Choose one of your shops; only a superadmin adds global channels."))
        return cleaned


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ["created_at", "channel", "phase", "status", "attempts", "sent_at", "last_error"]
    readonly_fields = fields
    ordering = ["-created_at"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user).select_related("channel")


@admin.register(AlertChannel)
class AlertChannelAdmin(ScopedModelAdmin):
    form = AlertChannelForm
    list_display = ["name", "shop", "kind", "is_active", "last_sent_at", "last_failed_at", "short_error"]
    list_filter = ["kind", "is_active", "shop"]
    search_fields = ["name", "shop__name"]
    list_select_related = ["shop"]
    readonly_fields = ["webhook_url_masked", "has_secret", "last_sent_at", "last_failed_at", "last_error",
                       "test_button"]
    actions = ["send_test_alert"]
    fieldsets = [
        (None, {"fields": ["shop", "name", "kind", "is_active", "event_kinds"]}),
        (_("E-mail"), {"fields": ["recipients"]}),
        (_("Robot webhook"), {"fields": ["webhook_url_masked", "new_webhook_url", "has_secret", "new_secret",
                                         "clear_secret"]}),
        (_("Last delivery"), {"fields": ["last_sent_at", "last_failed_at", "last_error", "test_button"]}),
    ]

    @admin.display(description=_("stored webhook URL"))
    def webhook_url_masked(self, obj):
        return obj.webhook_url_masked or "—"

    @admin.display(description=_("secret stored"), boolean=True)
    def has_secret(self, obj):
        return bool(obj.secret)

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.display(description=_("test"))
    def test_button(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:customer_service_alertchannel_test", args=[obj.pk])
        # The change page is one form; the button posts it (with its CSRF token) to the test view instead.
        return format_html('<button type="submit" class="button" formaction="{}" formmethod="post" '
                           'formnovalidate name="_send_test">{}</button>', url, _("Send test alert"))

    def has_add_permission(self, request):
        user = request.user
        return user.is_active and user.is_staff and (user.is_superadmin or is_shop_admin_anywhere(user=user))

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            hidden = {"test_button", "last_sent_at", "last_failed_at", "last_error"}
        elif not self.has_change_permission(request, obj):
            hidden = {"new_webhook_url", "new_secret", "clear_secret", "test_button"}
        else:
            return fieldsets
        return [(name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
                for name, options in fieldsets if any(f not in hidden for f in options["fields"])]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Without the admin's transaction around the page: checking a shop's webhook URL looks its host up
        # on the network, which must not hold the database; the service opens its own transaction.
        return self._changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        data = {name: getattr(obj, name) for name in services.CHANNEL_FIELDS}
        if change:
            saved = services.alert_channel_update(actor=request.user, channel=obj, shop=obj.shop_id, **data)
        else:
            saved = services.alert_channel_create(actor=request.user, shop=obj.shop_id, **data)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.alert_channel_delete(actor=request.user, channel=obj)

    def get_urls(self):
        return [path("<int:object_id>/test/", self.admin_site.admin_view(self.test_view),
                     name="customer_service_alertchannel_test"), *super().get_urls()]

    def test_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        channel = get_object_or_404(self.manageable_queryset(request), pk=object_id)
        self._send_test(request, channel)
        return HttpResponseRedirect(reverse("admin:customer_service_alertchannel_change", args=[channel.pk]))

    def _send_test(self, request, channel):
        try:
            delivery = services.alert_channel_test(actor=request.user, channel=channel)
        except KefuError as exc:
            self.message_user(request, f"{channel}: {exc.message}", messages.ERROR)
            return
        if delivery.status == AlertDeliveryStatus.SENT:
            self.message_user(request, _("%(channel)s: the test alert was sent.") % {"channel": channel},
                              messages.SUCCESS)
        else:
            self.message_user(request, _("%(channel)s: the test alert could not be sent: %(error)s")
                              % {"channel": channel, "error": delivery.last_error}, messages.ERROR)

    @admin.action(description=_("Send a test alert"))
    def send_test_alert(self, request, queryset):
        for channel in queryset:
            self._send_test(request, channel)


class OpenListFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("open")), ("resolved", _("resolved"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(AlertEvent)
class AlertEventAdmin(ScopedModelAdmin):
    list_display = ["title", "kind", "shop", "count", "first_seen", "last_seen", "is_open_display", "resolved_at"]
    list_filter = [OpenListFilter, "kind", "shop"]
    search_fields = ["title", "message", "key"]
    list_select_related = ["shop"]
    date_hierarchy = "first_seen"
    readonly_fields = ["shop", "kind", "key", "title", "message", "detail", "first_seen", "last_seen", "count",
                       "resolved_at", "raise_notified_at", "resolve_notified_at"]
    fields = readonly_fields
    inlines = [AlertDeliveryInline]
    actions = ["close_selected"]

    @admin.display(description=_("open"), boolean=True)
    def is_open_display(self, obj):
        return obj.is_open

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superadmin

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not (request.user.is_superadmin or is_shop_admin_anywhere(user=request.user)):
            actions.pop("close_selected", None)
        return actions

    def has_change_permission(self, request, obj=None):
        # Events are written by the services only; closing one is an action, not an edit.
        return False

    @admin.action(description=_("Close the selected alerts (resolved by hand)"))
    def close_selected(self, request, queryset):
        closed = 0
        for event in queryset.filter(resolved_at__isnull=True):
            try:
                services.alert_event_close(actor=request.user, event=event)
                closed += 1
            except KefuError as exc:
                self.message_user(request, f"{event}: {exc.message}", messages.WARNING)
        self.message_user(request, _("%(n)d alerts closed.") % {"n": closed}, messages.SUCCESS)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ScopedModelAdmin):
    list_display = ["created_at", "channel", "phase", "event", "status", "attempts", "sent_at", "next_attempt_at"]
    list_filter = ["status", "phase", "channel"]
    list_select_related = ["channel", "event"]
    readonly_fields = ["event", "channel", "phase", "status", "attempts", "next_attempt_at", "claimed_at",
                       "last_error", "created_at", "sent_at"]
    fields = readonly_fields
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superadmin

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not (request.user.is_superadmin or is_shop_admin_anywhere(user=request.user)):
            actions.pop("send_again", None)
        return actions

    @admin.action(description=_("Send the selected failed messages again"))
    def send_again(self, request, queryset):
        sent = 0
        for delivery in queryset.select_related("channel"):
            try:
                services.alert_delivery_retry(actor=request.user, delivery=delivery)
                sent += 1
            except KefuError as exc:
                self.message_user(request, f"{delivery}: {exc.message}", messages.WARNING)
        self.message_user(request, _("%(n)d messages queued again.") % {"n": sent}, messages.SUCCESS)
