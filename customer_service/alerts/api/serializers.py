from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customer_service.models import AlertChannel, AlertDelivery, AlertEvent, AlertKind, Shop
from kefu.api.fields import IdField


@extend_schema_field(OpenApiTypes.INT)
class ManageableShopField(serializers.PrimaryKeyRelatedField):
    """A shop the requester manages; any other id answers as an unknown one."""

    def get_queryset(self):
        return Shop.objects.manageable_by(self.context["request"].user)

    def to_internal_value(self, data):
        IdField().run_validation(data)  # past the column's range it names no row (and SQLite cannot bind it)
        return super().to_internal_value(data)


class AlertEventSerializer(serializers.ModelSerializer):
    shop_name = serializers.CharField(source="shop.name", read_only=True, default=None)
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = AlertEvent
        fields = ["id", "shop", "shop_name", "kind", "key", "title", "message", "detail", "first_seen", "last_seen",
                  "count", "is_open", "resolved_at", "raise_notified_at", "resolve_notified_at"]
        read_only_fields = fields


class AlertChannelSerializer(serializers.ModelSerializer):
    """Webhook URL and secret are write-only: answered as a masked URL and a has-secret flag."""

    shop = ManageableShopField(allow_null=True, required=False)
    webhook_url = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=2000,
                                        style={"input_type": "password"})
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500,
                                   style={"input_type": "password"})
    event_kinds = serializers.ListField(child=serializers.ChoiceField(choices=AlertKind.choices), required=False,
                                        max_length=len(AlertKind.values))
    webhook_url_masked = serializers.CharField(read_only=True)
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = AlertChannel
        fields = ["id", "shop", "name", "kind", "recipients", "webhook_url", "webhook_url_masked", "secret",
                  "has_secret", "event_kinds", "is_active", "last_sent_at", "last_failed_at", "last_error",
                  "created_at", "updated_at"]
        read_only_fields = ["last_sent_at", "last_failed_at", "last_error", "created_at", "updated_at"]

    def get_has_secret(self, obj) -> bool:
        return bool(obj.secret)


class AlertDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = ["id", "event", "channel", "phase", "status", "attempts", "next_attempt_at", "last_error",
                  "created_at", "sent_at"]
        read_only_fields = fields
