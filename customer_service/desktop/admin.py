"""Admin for the desktop side: pauses (and resuming), job records, captures, and each shop's desktop page
with its latest calibration picture beside its desktop settings."""

from django import forms
from django.contrib import admin, messages
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from customer_service.models import CaptureRecord, DesktopPause, JobRecord, Shop
from kefu.admin import ReadOnlyAdminMixin, ScopedModelAdmin
from kefu.exceptions import KefuError

from . import selectors, services
from .geometry import REGION_NAMES, RegionError


class DesktopPauseForm(forms.ModelForm):
    class Meta:
        model = DesktopPause
        fields = ["shop", "detail"]


@admin.register(DesktopPause)
class DesktopPauseAdmin(ScopedModelAdmin):
    form = DesktopPauseForm
    list_display = ["where", "reason_text", "detail", "paused_at", "paused_by", "resumed_at", "resumed_by"]
    list_filter = ["reason", ("resumed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["shop", "paused_by", "resumed_by"]
    actions = ["resume_selected"]

    @admin.display(description=_("shop"), ordering="shop__name")
    def where(self, obj):
        return obj.shop or _("every shop")

    @admin.display(description=_("reason"), ordering="reason")
    def reason_text(self, obj):
        return services.pause_reason_text(obj.reason)

    def has_add_permission(self, request):
        return request.user.is_active and self._is_member(request) and (
            request.user.is_superadmin or Shop.objects.manageable_by(request.user).exists())

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)  # rows change only through actions

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "shop":
            kwargs["queryset"] = Shop.objects.manageable_by(request.user)
            kwargs["required"] = not request.user.is_superadmin
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        try:
            pause = services.desktop_pause(shop=obj.shop, detail=obj.detail, actor=request.user)
        except KefuError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = pause.pk
        obj.paused_at = pause.paused_at

    def log_addition(self, request, obj, message):
        if obj.pk:
            super().log_addition(request, obj, message)

    @admin.action(description=_("Resume sending"))
    def resume_selected(self, request, queryset):
        resumed = 0
        for pause in queryset.filter(resumed_at__isnull=True).select_related("shop"):
            try:
                if services.desktop_resume(actor=request.user, shop=pause.shop):
                    resumed += 1
            except KefuError as exc:
                self.message_user(request, f"{pause}: {exc.message}", messages.ERROR)
        self.message_user(request, _("%(n)d pauses ended: sending goes on.") % {"n": resumed}, messages.SUCCESS)

    def manageable_queryset(self, request):
        user = request.user
        if user.is_superadmin:
            return DesktopPause.objects.all()
        return DesktopPause.objects.filter(shop__in=Shop.objects.manageable_by(user))


@admin.register(JobRecord)
class JobRecordAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["started_at", "shop", "kind", "status", "duration_ms", "summary", "error"]
    list_filter = ["kind", "status", "shop"]
    list_select_related = ["shop"]
    date_hierarchy = "started_at"
    raw_id_fields = ["outgoing"]


@admin.register(CaptureRecord)
class CaptureRecordAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["created_at", "shop", "kind", "note", "picture", "expires_at"]
    list_filter = ["kind", "shop"]
    list_select_related = ["shop"]
    fields = ["shop", "kind", "job", "note", "picture_large", "readings", "created_at", "expires_at"]
    readonly_fields = fields
    change_list_template = "admin/customer_service/capturerecord/change_list.html"

    @admin.display(description=_("screenshot"))
    def picture(self, obj):
        if not obj.image:
            return "-"
        url = reverse("admin:customer_service_capturerecord_image", args=[obj.pk])
        return format_html('<a href="{}"><img src="{}" style="max-height:60px;max-width:160px"></a>', url, url)

    @admin.display(description=_("screenshot"))
    def picture_large(self, obj):
        if not obj.image:
            return "-"
        url = reverse("admin:customer_service_capturerecord_image", args=[obj.pk])
        return format_html('<img src="{}" style="max-width:100%">', url)

    def get_urls(self):
        return [
            path("<int:pk>/image/", self.admin_site.admin_view(self.image_view),
                 name="customer_service_capturerecord_image"),
            path("shop/<int:shop_id>/", self.admin_site.admin_view(self.shop_desktop_view),
                 name="customer_service_capturerecord_shop"),
            *super().get_urls(),
        ]

    def image_view(self, request, pk):
        """The screenshot itself, to people who see its shop (never a public media URL)."""
        record = get_object_or_404(self.get_queryset(request), pk=pk)
        if not record.image:
            raise Http404
        try:
            handle = record.image.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        return FileResponse(handle, content_type="image/png")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "desktop_shops": Shop.objects.for_user(request.user).order_by("name")}
        return super().changelist_view(request, extra_context)

    def shop_desktop_view(self, request, shop_id):
        """A shop's desktop at a glance: its settings for the window, its latest calibration (the picture with
        the regions drawn, what OCR read in each), its pause, and its last jobs."""
        if not self._is_member(request):
            raise Http404
        shop = get_object_or_404(Shop.objects.for_user(request.user), pk=shop_id)
        manageable = Shop.objects.manageable_by(request.user).filter(pk=shop.pk).exists()
        if request.method == "POST":
            if not manageable:
                raise Http404
            try:
                if request.POST.get("action") == "resume":
                    services.desktop_resume(actor=request.user, shop=shop)
                    self.message_user(request, _("Sending resumed."), messages.SUCCESS)
                elif request.POST.get("action") == "pause":
                    services.desktop_pause(shop=shop, actor=request.user, detail=request.POST.get("detail", ""))
                    self.message_user(request, _("Sending paused."), messages.SUCCESS)
            except KefuError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)
        try:
            conf, settings_error = selectors.desktop_settings_get(shop=shop), ""
        except RegionError as exc:
            conf, settings_error = None, str(exc)
        calibration = selectors.capture_latest_calibration(shop=shop)
        pause = selectors.desktop_pause_get(shop=shop)
        readings = (calibration.readings or {}) if calibration else {}
        regions = []
        for name in REGION_NAMES:
            rect = getattr(conf.regions, name).as_list() if conf else None
            regions.append({"name": name, "rect": rect,
                            "reading": (readings.get("readings") or {}).get(name, ""),
                            "outside": name in (readings.get("outside") or [])})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Desktop of %(shop)s") % {"shop": shop},
            "shop": shop, "conf": conf, "settings_error": settings_error, "regions": regions,
            "calibration": calibration, "manageable": manageable,
            "calibration_url": reverse("admin:customer_service_capturerecord_image", args=[calibration.pk])
            if calibration and calibration.image else "",
            "pause": pause,
            "pause_reason": services.pause_reason_text(pause.reason) if pause else "",
            "jobs": JobRecord.objects.filter(shop=shop).order_by("-started_at", "-pk")[:20],
            "settings_url": reverse("admin:configs_userconfig_shop_settings", args=[shop.pk]),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/customer_service/desktop_shop.html", context)
