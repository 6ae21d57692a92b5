from django.db.models import ProtectedError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from kefu.api.filters import FilterSet, IsoDateTimeFilter
from kefu.api.viewsets import ScopedModelViewSet, ScopedReadOnlyViewSet
from kefu.exceptions import Conflict, NotFound

from .. import selectors, services
from ..models import AIModel, Budget, ModelConfig, ModelPricing, Provider, UsageRecord
from .serializers import (
    AIModelSerializer,
    BudgetSerializer,
    ConfigTestResultSerializer,
    ModelConfigSerializer,
    ModelPricingSerializer,
    ProviderSerializer,
    ProviderTestInputSerializer,
    UsageAggregateQuerySerializer,
    UsageRecordSerializer,
)


class ProtectedDeleteMixin:
    """Deleting a row that history still points at answers 409, not 500."""

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(_("This row is still used (by usage records, models or configs)."),
                           code="in_use") from None


def _test_results(configs) -> list[dict]:
    results = []
    for config in configs:
        ok, message = services.model_config_test(config=config)
        results.append({"config": config.pk, "name": config.name, "ok": ok, "message": message,
                        "tested_at": config.last_tested_at})
    return results


class ProviderViewSet(ProtectedDeleteMixin, ScopedModelViewSet):
    queryset = Provider.objects.all()
    serializer_class = ProviderSerializer
    filterset_fields = ["api_style", "enabled", "code"]
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name"]

    def get_manageable_queryset(self):
        # Testing needs a config of the provider that the user manages, not the provider itself.
        if self.action == "test":
            return Provider.objects.for_user(self.request.user)
        return super().get_manageable_queryset()

    @extend_schema(request=ProviderTestInputSerializer, responses=ConfigTestResultSerializer(many=True))
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def test(self, request, pk=None):
        """Test this provider's configs you manage (or the one named by ``config``): one cheap real call each."""
        provider = self.get_object()
        data = ProviderTestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        configs = ModelConfig.objects.manageable_by(request.user).filter(provider=provider).select_related(
            "provider", "model")
        if data.validated_data.get("config"):
            configs = configs.filter(pk=data.validated_data["config"])
        if not configs:
            raise NotFound(_("No config of this provider that you manage."), code="no_config")
        return Response(ConfigTestResultSerializer(_test_results(configs), many=True).data)


class AIModelViewSet(ProtectedDeleteMixin, ScopedModelViewSet):
    queryset = AIModel.objects.select_related("provider")
    serializer_class = AIModelSerializer
    filterset_fields = ["provider", "model_type", "enabled", "code"]
    search_fields = ["code", "name"]
    ordering_fields = ["code", "provider"]


class ModelPricingFilterSet(FilterSet):
    at = IsoDateTimeFilter(method="filter_at", label="in force at")

    class Meta:
        model = ModelPricing
        fields = ["model", "pricing_type", "currency"]

    def filter_at(self, queryset, name, value):
        return queryset.filter(effective_from__lte=value).exclude(effective_to__lte=value)


class ModelPricingViewSet(ScopedModelViewSet):
    queryset = ModelPricing.objects.select_related("model")
    serializer_class = ModelPricingSerializer
    filterset_class = ModelPricingFilterSet
    ordering_fields = ["effective_from", "unit_price"]

    def perform_create(self, serializer):
        serializer.instance = services.pricing_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.pricing_update(actor=self.request.user, pricing=serializer.instance,
                                                      **serializer.validated_data)

    def perform_destroy(self, instance):
        services.pricing_delete(actor=self.request.user, pricing=instance)


class ModelConfigViewSet(ScopedModelViewSet):
    """Configs: superadmins manage all; any user may add their own key (owner = themselves)."""

    queryset = ModelConfig.objects.select_related("provider", "model")
    serializer_class = ModelConfigSerializer
    filterset_fields = ["provider", "capability", "is_active", "is_default", "owner"]
    search_fields = ["name", "model_code"]
    ordering_fields = ["priority", "name", "created_at"]

    def can_create(self, request) -> bool:
        return request.user.is_authenticated

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        if not self.request.user.is_superadmin:
            data["owner"] = self.request.user
        serializer.instance = services.model_config_create(actor=self.request.user, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if not self.request.user.is_superadmin:
            data.pop("owner", None)
        serializer.instance = services.model_config_update(actor=self.request.user, config=serializer.instance,
                                                           **data)

    @extend_schema(request=None, responses=ConfigTestResultSerializer(many=True))
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def test(self, request, pk=None):
        """Test this config (one cheap real call), answered as a list of one result."""
        config = self.get_object()
        if not ModelConfig.objects.manageable_by(request.user).filter(pk=config.pk).exists():
            raise NotFound(_("Not found."))
        return Response(ConfigTestResultSerializer(_test_results([config]), many=True).data)


class UsageRecordFilterSet(FilterSet):
    date_from = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    date_to = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = UsageRecord
        fields = ["shop", "user", "model", "config", "status", "usage_type", "error_code", "message_ref",
                  "request_id"]


class UsageRecordViewSet(ScopedReadOnlyViewSet):
    queryset = UsageRecord.objects.select_related("model")  # model_code of every row
    serializer_class = UsageRecordSerializer
    filterset_class = UsageRecordFilterSet
    ordering_fields = ["created_at", "cost", "latency_ms"]

    @extend_schema(parameters=[UsageAggregateQuerySerializer], responses=dict)
    @action(detail=False, methods=["get"])
    def aggregates(self, request):
        """Totals, by model, top configs, most active users (and ``by`` a grouping) over your usage rows.

        Query: ``date_from``, ``date_to`` (local dates, both included), ``by``, ``shop``, ``user``, ``top``.
        """
        params = UsageAggregateQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        start, end = selectors.period_bounds(query.get("date_from"), query.get("date_to"))
        queryset = selectors.usage_filter(queryset=self.get_queryset(), date_from=start, date_to=end,
                                          shop=query.get("shop"), user=query.get("user"))
        report = selectors.usage_report(queryset, by=query.get("by"), top=query["top"])
        return Response(_jsonable(report))


def _jsonable(value):
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


class BudgetViewSet(ScopedModelViewSet):
    queryset = Budget.objects.select_related("shop", "config")
    serializer_class = BudgetSerializer
    filterset_fields = ["scope", "shop", "config", "is_active"]

    def perform_create(self, serializer):
        serializer.instance = services.budget_set(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        budget = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(budget, name, value)
        serializer.instance = services.budget_save(actor=self.request.user, budget=budget)

