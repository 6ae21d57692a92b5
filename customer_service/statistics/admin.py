"""Daily statistics in the admin: the rows (read-only), a shop's chart per figure, and each chart's export."""

from django.contrib import admin, messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from customer_service.models import DailyStatistics, Shop
from customer_service.shops.selectors import shop_is_manageable
from kefu.admin import ReadOnlyAdminMixin, ScopedModelAdmin
from kefu.exceptions import KefuError

from .calibration import shop_calibration_get
from .charts import calibration_svg
from .dashboard import chart_export, picked_days, shop_charts_context
from .services import shop_threshold_apply

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@admin.register(DailyStatistics)
class DailyStatisticsAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    """Computed by the roll-up: shown, never edited here."""

    list_display = ["day", "shop", "messages", "auto_answered", "shown_auto_rate", "reviewed", "shown_accuracy",
                    "shown_rate_3", "first_reply_median_seconds", "ai_cost", "computed_at"]
    list_filter = ["shop", "day"]
    list_select_related = ["shop"]
    date_hierarchy = "day"
    ordering = ["-day", "shop__name"]

    @admin.display(description=_("auto-answer rate"))
    def shown_auto_rate(self, obj):
        return _percent(obj.auto_answer_rate)

    @admin.display(description=_("AI accuracy"))
    def shown_accuracy(self, obj):
        return _percent(obj.ai_accuracy)

    @admin.display(description=_("3-minute response rate"))
    def shown_rate_3(self, obj):
        return _percent(obj.response_rate_3_minutes)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export/", wrap(self.export_view), name="customer_service_dailystatistics_export"),
            path("shop/<int:shop_id>/", wrap(self.shop_view), name="customer_service_dailystatistics_shop"),
            path("threshold/<int:shop_id>/", wrap(self.threshold_view),
                 name="customer_service_dailystatistics_threshold"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The table behind one chart (``chart``, ``shop``, ``days``) as ``format`` csv or xlsx."""
        if not self.has_view_permission(request):
            raise Http404
        try:
            data, filename = chart_export(user=request.user, chart_code=request.GET.get("chart", ""),
                                          shop_value=request.GET.get("shop"), days_value=request.GET.get("days"),
                                          fmt=request.GET.get("format", "csv"))
        except (KeyError, KefuError):
            raise Http404(_("No such chart or format.")) from None
        response = HttpResponse(data, content_type=CONTENT_TYPES[filename.rsplit(".", 1)[1]])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def shop_view(self, request, shop_id):
        """A chart per figure of one shop over the last 7, 30 or 90 days."""
        shop = Shop.objects.for_user(request.user).filter(pk=shop_id).first()
        if shop is None or not self.has_view_permission(request):
            raise Http404(_("No such shop."))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Statistics of %(shop)s") % {"shop": shop},
            "opts": self.model._meta,
            **shop_charts_context(user=request.user, shop=shop, days=picked_days(request.GET.get("days"))),
        }
        return TemplateResponse(request, "admin/customer_service/statistics/shop.html", context)

    def threshold_view(self, request, shop_id):
        """A shop's precision curve from review outcomes, the suggested auto-send threshold, and (for its
        admins) a button that applies it as a new version of the shop's settings."""
        shop = Shop.objects.for_user(request.user).filter(pk=shop_id).first()
        if shop is None or not self.has_view_permission(request):
            raise Http404(_("No such shop."))
        if request.method == "POST":
            try:
                shop_threshold_apply(actor=request.user, shop=shop, ip=request.META.get("REMOTE_ADDR"),
                                     user_agent=request.META.get("HTTP_USER_AGENT", "")[:300])
            except KefuError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, _("The auto-send threshold of %(shop)s is now the suggested one; its "
                                             "settings history can roll it back.") % {"shop": shop},
                                  messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        calibration = shop_calibration_get(shop=shop)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Auto-send threshold of %(shop)s") % {"shop": shop},
            "opts": self.model._meta,
            "shop": shop,
            "calibration": calibration,
            "chart": calibration_svg(calibration),
            "can_apply": shop_is_manageable(user=request.user, shop=shop)
            and calibration.suggested is not None and calibration.suggested != calibration.current,
            "rows": [p for p in calibration.points if p.answers],
        }
        return TemplateResponse(request, "admin/customer_service/statistics/threshold.html", context)


def _percent(value):
    return "–" if value is None else f"{value * 100:.1f}%"
