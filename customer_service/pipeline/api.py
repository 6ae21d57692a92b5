"""API of the reply pipeline: messages in (idempotent ingest) and the conversations they belong to."""

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from customer_service.models import Conversation, Message, MessageDirection, MessageSource
from customer_service.shops.models import Shop
from kefu.api.filters import FilterSet, IsoDateTimeFilter
from kefu.api.permissions import ScopedObjectPermission

from . import selectors, services


class ConversationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "shop", "buyer_id", "takeover_until", "last_activity_at", "away_sent_at", "created_at"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    buyer_id = serializers.CharField(source="conversation.buyer_id", read_only=True)

    class Meta:
        model = Message
        fields = ["id", "shop", "conversation", "buyer_id", "direction", "content", "source", "external_id", "status",
                  "status_rule", "status_detail", "sent_at", "received_at", "answered_at", "burst_head",
                  "created_at"]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class ShopOfMineField(serializers.PrimaryKeyRelatedField):
    """A shop the person works in; any other id answers like one nobody has."""

    def get_queryset(self):
        return Shop.objects.for_user(self.context["request"].user)


class MessageInputSerializer(serializers.Serializer):
    shop = ShopOfMineField()
    buyer_id = serializers.CharField(max_length=128, help_text="The buyer's nick as Qianniu shows it.")
    content = serializers.CharField(max_length=4000, trim_whitespace=False)
    external_id = serializers.CharField(max_length=191, help_text="Your id for this line: sent again, it is the "
                                                                  "same message (200 with the first row).")
    sent_at = serializers.DateTimeField(required=False, allow_null=True, help_text="When the buyer sent it.")
    direction = serializers.ChoiceField(choices=MessageDirection.choices, default=MessageDirection.BUYER,
                                        help_text="seller: a person answered in Qianniu (the conversation is taken "
                                                  "over for the shop's takeover period).")
    source = serializers.ChoiceField(choices=[(MessageSource.API, MessageSource.API.label),
                                              (MessageSource.IMPORT, MessageSource.IMPORT.label)],
                                     default=MessageSource.API)


class MessageFilterSet(FilterSet):
    received_after = IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = IsoDateTimeFilter(field_name="received_at", lookup_expr="lt")
    status_rule = filters.CharFilter(field_name="status_rule")

    class Meta:
        model = Message
        fields = ["shop", "status", "conversation", "direction", "status_rule", "received_after", "received_before"]


class ConversationFilterSet(FilterSet):
    class Meta:
        model = Conversation
        fields = ["shop", "buyer_id"]


class MessageViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Buyer and seller lines of your shops' conversations.

    POST records a line: 201 with the new message, or 200 with the first one when its ``external_id`` was
    sent before (nothing changes, whatever the content). A buyer line is answered after its burst's quiet
    window; a seller line kefu did not send takes the conversation over for the shop's takeover period.
    """

    queryset = Message.objects.all()
    serializer_class = MessageSerializer
    filterset_class = MessageFilterSet
    permission_classes = [ScopedObjectPermission]
    search_fields = ["content", "conversation__buyer_id", "external_id"]
    ordering_fields = ["received_at", "id"]

    def get_queryset(self):
        return selectors.message_list(user=self.request.user)

    def can_create(self, request) -> bool:
        return True  # the shop must be one of the person's: checked by the input's shop field

    @extend_schema(request=MessageInputSerializer, responses={200: MessageSerializer, 201: MessageSerializer})
    def create(self, request, *args, **kwargs):
        data = MessageInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        message, created = services.message_ingest(actor=request.user, **data.validated_data)
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(MessageSerializer(message).data, status=answer)


class ConversationViewSet(viewsets.ReadOnlyModelViewSet):
    """Your shops' conversations with buyers, the latest activity first."""

    queryset = Conversation.objects.all()
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilterSet
    permission_classes = [ScopedObjectPermission]
    search_fields = ["buyer_id"]
    ordering_fields = ["last_activity_at", "id"]

    def get_queryset(self):
        return selectors.conversation_list(user=self.request.user)
