
from django.utils.translation import gettext as _
from rest_framework import serializers

from kefu.api.fields import IdField

from .. import breaker
from ..models import AIModel, Budget, ModelConfig, ModelPricing, Provider, UsageRecord
from ..selectors import GROUPS


class ProviderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Provider
        fields = ["id", "code", "name", "api_style", "default_base_url", "website", "enabled", "created_at",
                  "updated_at"]


class AIModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = AIModel
        fields = ["id", "provider", "code", "name", "model_type", "enabled", "created_at", "updated_at"]


class ModelPricingSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelPricing
        fields = ["id", "model", "pricing_type", "unit_price", "currency", "effective_from", "effective_to", "note"]


class ModelConfigSerializer(serializers.ModelSerializer):
    """The key and extra headers are write-only; reads show the masked key and the header names."""

    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500,
                                    style={"input_type": "password"})
    extra_headers = serializers.DictField(child=serializers.CharField(max_length=500), write_only=True,
                                          required=False, allow_null=True)
    api_key_masked = serializers.CharField(read_only=True)
    has_api_key = serializers.SerializerMethodField()
    extra_header_names = serializers.SerializerMethodField()
    breaker_state = serializers.SerializerMethodField()

    class Meta:
        model = ModelConfig
        fields = ["id", "name", "provider", "model_code", "model", "owner", "api_key", "api_key_masked",
                  "has_api_key", "base_url", "temperature", "max_tokens", "timeout_seconds", "max_retries",
                  "extra_headers", "extra_header_names", "capability", "is_default", "priority", "is_active",
                  "log_requests", "log_retention_days", "last_tested_at", "last_test_ok", "last_test_message",
                  "breaker_state", "created_at", "updated_at"]
        read_only_fields = ["model", "last_tested_at", "last_test_ok", "last_test_message"]

    def get_has_api_key(self, obj) -> bool:
        return bool(obj.api_key)

    def get_extra_header_names(self, obj) -> list[str]:
        return sorted(obj.extra_headers or {})

    def get_breaker_state(self, obj) -> str:
        return breaker.state(obj.pk)


class UsageRecordSerializer(serializers.ModelSerializer):
    model_code = serializers.CharField(source="model.code", read_only=True)

    class Meta:
        model = UsageRecord
        fields = ["id", "created_at", "request_id", "attempt", "model", "model_code", "config", "config_name",
                  "user", "shop", "message_ref", "usage_type", "input_tokens", "output_tokens", "images", "cost",
                  "latency_ms", "status", "error_code", "error_text"]


class UsageAggregateQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    by = serializers.ChoiceField(choices=sorted(GROUPS), required=False)
    shop = IdField(required=False)
    user = IdField(required=False)
    top = serializers.IntegerField(required=False, min_value=1, max_value=100, default=10)

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_to"] < attrs["date_from"]:
            raise serializers.ValidationError({"date_to": _("Must not be before date_from.")})
        return attrs


class ProviderTestInputSerializer(serializers.Serializer):
    config = IdField(required=False)


class ConfigTestResultSerializer(serializers.Serializer):
    config = serializers.IntegerField()
    name = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()
    tested_at = serializers.DateTimeField()


class BudgetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Budget
        fields = ["id", "scope", "shop", "config", "monthly_limit", "is_active", "created_at", "updated_at"]
        read_only_fields = ["scope"]

