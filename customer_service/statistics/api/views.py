from django.utils.translation import gettext as _
from django_filters.rest_framework import filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from customer_service.models import DailyStatistics, Shop
from kefu.api.filters import FilterSet
from kefu.api.viewsets import ScopedReadOnlyViewSet

from ..calibration import shop_calibration_get
from ..selectors import statistics_totals
from ..services import shop_threshold_apply
from .serializers import (
    CalibrationSerializer,
    DailyStatisticsSerializer,
    StatisticsSummarySerializer,
    ThresholdApplySerializer,
    ThresholdQuerySerializer,
)


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

    def _shop(self, pk) -> Shop:
        # A shop the person does not see is answered like an id nobody has: a field error, as body ids are.
        shop = Shop.objects.for_user(self.request.user).filter(pk=pk).first()
        if shop is None:
            raise serializers.ValidationError({"shop": [_("No such shop.")]})
        return shop

    @extend_schema(parameters=[ThresholdQuerySerializer], responses=CalibrationSerializer)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def threshold(self, request):
        """The shop's precision at each auto-send threshold from review outcomes (approved unedited = right,
        edited or rejected = wrong), with Wilson 95 % bounds, and the suggested threshold."""
        params = ThresholdQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        shop = self._shop(params.validated_data["shop"])
        return Response(CalibrationSerializer(shop_calibration_get(shop=shop)).data)

    @extend_schema(request=ThresholdApplySerializer, responses=CalibrationSerializer)
    @action(detail=False, methods=["post"], url_path="threshold/apply", filter_backends=[], pagination_class=None)
    def threshold_apply(self, request):
        """Set the shop's auto-send threshold (default: the suggestion) as a new version of its settings, which
        the config history rolls back. Shop admins and superadmins."""
        body = ThresholdApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        shop = self._shop(body.validated_data["shop"])
        shop_threshold_apply(actor=request.user, shop=shop, threshold=body.validated_data.get("threshold"),
                             ip=request.META.get("REMOTE_ADDR"))
        return Response(CalibrationSerializer(shop_calibration_get(shop=shop)).data)
