"""``{% statistics_dashboard %}`` (the admin index's statistics block) and ``{% shop_statistics shop %}``."""

from django import template

from customer_service.statistics.dashboard import dashboard_context, picked_days, shop_charts_context

register = template.Library()


@register.inclusion_tag("admin/customer_service/statistics/dashboard.html", takes_context=True)
def statistics_dashboard(context):
    request = context["request"]
    return {"request": request, **dashboard_context(request)}


@register.inclusion_tag("admin/customer_service/statistics/figure_charts.html", takes_context=True)
def shop_statistics(context, shop):
    request = context["request"]
    return shop_charts_context(user=request.user, shop=shop, days=picked_days(request.GET.get("days")))
