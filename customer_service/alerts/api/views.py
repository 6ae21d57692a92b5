from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from customer_service.models import AlertChannel, AlertDelivery, AlertEvent
from customer_service.shops.selectors import is_shop_admin_anywhere
from kefu.api.filters import BooleanFilter, FilterSet
from kefu.api.viewsets import ScopedModelViewSet, ScopedReadOnlyViewSet

from .. import services
from .serializers import AlertChannelSerializer, AlertDeliverySerializer, AlertEventSerializer


class AlertEventFilterSet(FilterSet):
    is_open = BooleanFilter(field_name="resolved_at", lookup_expr="isnull", label="is_open")

    class Meta:
        model = AlertEvent
        fields = ["shop", "kind", "key"]


class AlertEventViewSet(ScopedReadOnlyViewSet):
    """Alerts of the requester's shops (superadmins: also the global ones). Closing one needs its shop's admin."""

    queryset = AlertEvent.objects.select_related("shop")
    serializer_class = AlertEventSerializer
    filterset_class = AlertEventFilterSet
    search_fields = ["title", "message"]
    ordering_fields = ["first_seen", "last_seen", "count"]

    def get_manageable_queryset(self):
        return AlertEvent.objects.manageable_by(self.request.user)

    @extend_schema(request=None, responses=AlertEventSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def close(self, request, pk=None):
        """Close this open alert by hand (it is dealt with); its "resolved" message follows as usual."""
        event = services.alert_event_close(actor=request.user, event=self.get_object())
        return Response(AlertEventSerializer(event).data)


class AlertChannelFilterSet(FilterSet):
    class Meta:
        model = AlertChannel
        fields = ["shop", "kind", "is_active"]


class AlertChannelViewSet(ScopedModelViewSet):
    """Where alerts go: shop admins manage their shops' channels, superadmins every channel and the global ones."""

    queryset = AlertChannel.objects.select_related("shop")
    serializer_class = AlertChannelSerializer
    filterset_class = AlertChannelFilterSet
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def can_create(self, request) -> bool:
        return bool(request.user.is_superadmin or is_shop_admin_anywhere(user=request.user))

    def perform_create(self, serializer):
        serializer.instance = services.alert_channel_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.alert_channel_update(actor=self.request.user, channel=serializer.instance,
                                                            **serializer.validated_data)

    def perform_destroy(self, instance):
        services.alert_channel_delete(actor=self.request.user, channel=instance)

    @extend_schema(request=None, responses=AlertDeliverySerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def test(self, request, pk=None):
        """Send a test alert to this channel now (one attempt) and answer the delivery: ``sent`` or ``failed``
        with the reason."""
        channel = self.get_object()
        if not AlertChannel.objects.manageable_by(request.user).filter(pk=channel.pk).exists():
            raise NotFound(_("Not found."))
        delivery = services.alert_channel_test(actor=request.user, channel=channel)
        return Response(AlertDeliverySerializer(delivery).data)


class AlertDeliveryFilterSet(FilterSet):
    class Meta:
        model = AlertDelivery
        fields = ["channel", "event", "phase", "status"]


class AlertDeliveryViewSet(ScopedReadOnlyViewSet):
    """Every message sent to the channels the requester manages, with its outcome."""

    queryset = AlertDelivery.objects.select_related("channel", "event")
    serializer_class = AlertDeliverySerializer
    filterset_class = AlertDeliveryFilterSet
    ordering_fields = ["created_at"]
