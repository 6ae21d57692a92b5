"""Review API: the queue (``/api/review/``) with its decisions, and the reply templates (``/api/reply-templates/``).

Thin: the viewsets read through the selectors and act through the services, which check who may act.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import User
from customer_service.models import ReplyTemplate, ReviewItem, ReviewStatus
from customer_service.shops.models import Shop
from kefu.api.filters import BooleanFilter, FilterSet
from kefu.api.viewsets import ScopedModelViewSet, ScopedReadOnlyViewSet

from . import decisions, selectors, services

# -- serializers -----------------------------------------------------------------------------------------------


class ReviewDraftSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    text = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    knowledge_item = serializers.IntegerField(source="knowledge_item_id", allow_null=True)
    knowledge_question = serializers.SerializerMethodField()
    matched_phrasing = serializers.CharField()

    def get_knowledge_question(self, obj) -> str:
        return obj.knowledge_item.question if obj.knowledge_item_id and obj.knowledge_item else ""


class ReviewLineSerializer(serializers.Serializer):
    """One line of the conversation."""

    id = serializers.IntegerField()
    direction = serializers.CharField()
    content = serializers.CharField()
    status = serializers.CharField()
    received_at = serializers.DateTimeField()


class ReviewItemSerializer(serializers.ModelSerializer):
    shop_name = serializers.CharField(source="shop.name", read_only=True)
    conversation = serializers.IntegerField(source="message.conversation_id", read_only=True)
    buyer_id = serializers.CharField(source="message.conversation.buyer_id", read_only=True)
    buyer_text = serializers.SerializerMethodField(help_text="The burst's lines, oldest first, one per line.")
    message_status = serializers.CharField(source="message.status", read_only=True)
    draft = ReviewDraftSerializer(read_only=True, allow_null=True)
    assigned_to_username = serializers.CharField(source="assigned_to.username", read_only=True, default=None,
                                                 allow_null=True)
    seconds_left = serializers.SerializerMethodField(help_text="Until the deadline; negative once past it.")

    class Meta:
        model = ReviewItem
        fields = ["id", "shop", "shop_name", "message", "conversation", "buyer_id", "buyer_text", "message_status",
                  "draft", "reason", "reason_detail", "status", "assigned_to", "assigned_to_username", "final_text",
                  "note", "reviewer", "reviewed_at", "deadline_at", "seconds_left", "holding_sent_at", "created_at"]
        read_only_fields = fields

    def get_buyer_text(self, obj) -> str:
        return selectors.review_item_buyer_text(item=obj)

    def get_seconds_left(self, obj) -> int:
        return int((obj.deadline_at - timezone.now()).total_seconds())


class ReviewItemDetailSerializer(ReviewItemSerializer):
    lines = serializers.SerializerMethodField(help_text="The conversation so far, oldest first (the last 30).")

    class Meta(ReviewItemSerializer.Meta):
        fields = [*ReviewItemSerializer.Meta.fields, "lines"]
        read_only_fields = fields

    @extend_schema_field(ReviewLineSerializer(many=True))
    def get_lines(self, obj):
        return ReviewLineSerializer(selectors.review_item_conversation(item=obj), many=True).data


class ReviewDecisionSerializer(ReviewItemSerializer):
    outgoing_reply = serializers.SerializerMethodField(help_text="The outbox row the reply became (null: none).")

    class Meta(ReviewItemSerializer.Meta):
        fields = [*ReviewItemSerializer.Meta.fields, "outgoing_reply"]
        read_only_fields = fields

    def get_outgoing_reply(self, obj) -> int | None:
        outgoing = self.context.get("outgoing")
        return outgoing.pk if outgoing is not None else None


class ReviewEditSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000, help_text="The reply to send instead of the draft.")


class ReviewRejectSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                 help_text="Why nothing is sent (kept with the item).")


class _VisibleRowField(serializers.PrimaryKeyRelatedField):
    """An id of a row the requester sees (``for_user``): any other answers like an id nobody has."""

    model = None

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return self.model.objects.none()
        return self.model.objects.for_user(request.user)


@extend_schema_field(OpenApiTypes.INT)
class VisibleUserField(_VisibleRowField):
    model = User


@extend_schema_field(OpenApiTypes.INT)
class VisibleShopField(_VisibleRowField):
    model = Shop


class ReviewAssignSerializer(serializers.Serializer):
    user = VisibleUserField(allow_null=True, help_text="A person of the item's shop; null: nobody.")


class ReplyTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReplyTemplate
        fields = ["id", "shop", "code", "title", "text", "is_active", "created_by", "updated_by", "created_at",
                  "updated_at"]
        read_only_fields = fields


class ReplyTemplateInputSerializer(serializers.Serializer):
    shop = VisibleShopField(allow_null=True, required=False,
                            help_text="Null or left out: shared by every shop (superadmins).")
    code = serializers.SlugField(max_length=32)
    title = serializers.CharField(max_length=100, required=False, allow_blank=True)
    text = serializers.CharField(max_length=2000)
    is_active = serializers.BooleanField(required=False)


# -- viewsets --------------------------------------------------------------------------------------------------


class ReviewItemFilterSet(FilterSet):
    unassigned = BooleanFilter(field_name="assigned_to", lookup_expr="isnull", label="assigned to nobody")

    class Meta:
        model = ReviewItem
        fields = ["shop", "status", "assigned_to", "reason", "unassigned"]


class ReviewItemViewSet(ScopedReadOnlyViewSet):
    """The review queue of your shops, oldest deadline first: pending items unless ``status`` says otherwise.

    Everyone of a shop (agents too) approves, edits, rejects and assigns its items; when two people act on
    one item, the first wins and the other gets a 409 ``state_conflict``.
    """

    queryset = ReviewItem.objects.all()
    serializer_class = ReviewItemSerializer
    filterset_class = ReviewItemFilterSet
    search_fields = ["message__content", "message__conversation__buyer_id", "draft__text"]
    ordering_fields = ["deadline_at", "created_at"]
    ordering = ["deadline_at", "id"]

    def get_manageable_queryset(self):
        return ReviewItem.objects.manageable_by(self.request.user)

    def get_queryset(self):
        queryset = selectors.review_item_list(user=self.request.user)
        if self.action == "list" and "status" not in self.request.query_params:
            queryset = queryset.filter(status=ReviewStatus.PENDING)
        return queryset

    def get_serializer_class(self):
        return ReviewItemDetailSerializer if self.action == "retrieve" else ReviewItemSerializer

    def _decided(self, outcome, code=status.HTTP_200_OK):
        data = ReviewDecisionSerializer(outcome.item, context={"outgoing": outcome.outgoing}).data
        return Response(data, status=code)

    @extend_schema(parameters=[OpenApiParameter("status", str, description="Default: pending.")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=ReviewDecisionSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def approve(self, request, pk=None):
        """Send the draft as it is; the message is answered."""
        return self._decided(decisions.review_item_approve(actor=request.user, item=self.get_object()))

    @extend_schema(request=ReviewEditSerializer, responses=ReviewDecisionSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def edit(self, request, pk=None):
        """Send your text instead of the draft; the conversation's human takeover starts."""
        item = self.get_object()
        data = ReviewEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        text = data.validated_data["text"]
        return self._decided(decisions.review_item_edit(actor=request.user, item=item, text=text))

    @extend_schema(request=ReviewRejectSerializer, responses=ReviewDecisionSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def reject(self, request, pk=None):
        """Send nothing; the note is kept and the message ignored."""
        item = self.get_object()
        data = ReviewRejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._decided(decisions.review_item_reject(actor=request.user, item=item,
                                                         note=data.validated_data["note"]))

    @extend_schema(request=ReviewAssignSerializer, responses=ReviewItemSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def assign(self, request, pk=None):
        """Put a person of the shop on the item (null: nobody)."""
        item = self.get_object()
        data = ReviewAssignSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        item = decisions.review_item_assign(actor=request.user, item=item, user=data.validated_data["user"])
        return Response(ReviewItemSerializer(item).data)


class ReplyTemplateFilterSet(FilterSet):
    shared = BooleanFilter(field_name="shop", lookup_expr="isnull", label="shared by every shop")

    class Meta:
        model = ReplyTemplate
        fields = ["shop", "code", "is_active", "shared"]


class ReplyTemplateViewSet(ScopedModelViewSet):
    """Canned replies of your shops and the shared ones: everyone of a shop reads them; its admins change its
    own; superadmins change the shared ones."""

    queryset = ReplyTemplate.objects.all()
    serializer_class = ReplyTemplateSerializer
    filterset_class = ReplyTemplateFilterSet
    search_fields = ["code", "title", "text"]
    ordering_fields = ["code", "updated_at"]

    def can_create(self, request) -> bool:
        return True  # whether the person may write to the chosen shop is the service's check

    def _input(self, request, partial=False):
        data = ReplyTemplateInputSerializer(data=request.data, partial=partial, context={"request": request})
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    @extend_schema(request=ReplyTemplateInputSerializer, responses={201: ReplyTemplateSerializer})
    def create(self, request, *args, **kwargs):
        template = services.reply_template_create(actor=request.user, **self._input(request))
        return Response(ReplyTemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReplyTemplateInputSerializer, responses={200: ReplyTemplateSerializer})
    def update(self, request, *args, **kwargs):
        template = self.get_object()
        fields = self._input(request, partial=kwargs.get("partial", False))
        template = services.reply_template_update(actor=request.user, template=template, **fields)
        return Response(ReplyTemplateSerializer(template).data)

    @extend_schema(request=ReplyTemplateInputSerializer, responses={200: ReplyTemplateSerializer})
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance):
        services.reply_template_delete(actor=self.request.user, template=instance)
