"""Daily statistics in the admin: the rows (read-only), a shop's chart per figure, and each chart's export."""

from django.contrib import admin
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from customer_service.models import DailyStatistics, Shop
from kefu.admin import ReadOnlyAdminMixin, ScopedModelAdmin
from kefu.exceptions import KefuError

from .dashboard import chart_export, picked_days, shop_charts_context

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


def _percent(value):
    return "–" if value is None else f"{value * 100:.1f}%"
