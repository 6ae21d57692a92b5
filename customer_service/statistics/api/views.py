from django_filters.rest_framework import filters
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from customer_service.models import DailyStatistics
from kefu.api.filters import FilterSet
from kefu.api.viewsets import ScopedReadOnlyViewSet

from ..selectors import statistics_totals
from .serializers import DailyStatisticsSerializer, StatisticsSummarySerializer


class DailyStatisticsFilterSet(FilterSet):
    date_from = filters.DateFilter(field_name="day", lookup_expr="gte", label="first local day (included)")
    date_to = filters.DateFilter(field_name="day", lookup_expr="lte", label="last local day (included)")

    class Meta:
        model = DailyStatistics
        fields = ["shop", "day"]


class DailyStatisticsViewSet(ScopedReadOnlyViewSet):
    """Daily figures of the requester's shops, one row per shop and local (Asia/Shanghai) day, newest first.

    Filters: ``shop``, ``day``, ``date_from`` / ``date_to`` (local days, both included). Rolled up every
    ten minutes for yesterday and today, and by ``manage.py stats_rollup`` for any range.
    """

    queryset = DailyStatistics.objects.select_related("shop")
    serializer_class = DailyStatisticsSerializer
    filterset_class = DailyStatisticsFilterSet
    ordering_fields = ["day", "messages", "ai_cost"]

    @extend_schema(responses=StatisticsSummarySerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request):
        """Totals and rates over every row the filters match (e.g. one shop's last 30 days)."""
        rows = self.filter_queryset(self.get_queryset())
        totals = statistics_totals(rows)
        totals["rows"] = rows.count()
        return Response(StatisticsSummarySerializer(totals).data)
