from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from customer_service.models import OutboxChannel, OutgoingReply
from kefu.api.filters import FilterSet
from kefu.api.viewsets import ScopedReadOnlyViewSet

from .. import services
from .serializers import OutgoingCancelSerializer, OutgoingReceiptSerializer, OutgoingReplySerializer


def api_claimer(user) -> str:
    """Who sends, as the outbox records it: the API account (its id keeps it unique, its name readable)."""
    return f"api:{user.pk}:{user.get_username()}"[: services.CLAIMER_MAX]


class OutgoingReplyFilterSet(FilterSet):
    class Meta:
        model = OutgoingReply
        fields = ["shop", "state", "channel", "conversation", "message"]


class OutgoingReplyViewSet(ScopedReadOnlyViewSet):
    """The outbox of the requester's shops, oldest first, for external senders: list ``?state=queued``, then
    ``claim`` one (only one sender ever gets it), send it, and give its ``receipt`` before ``lease_until``."""

    queryset = OutgoingReply.objects.select_related("shop", "conversation")
    serializer_class = OutgoingReplySerializer
    filterset_class = OutgoingReplyFilterSet
    search_fields = ["text", "conversation__buyer_id"]
    ordering_fields = ["created_at", "finished_at"]

    def get_manageable_queryset(self):
        return OutgoingReply.objects.manageable_by(self.request.user)

    @extend_schema(request=None, responses=OutgoingReplySerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def claim(self, request, pk=None):
        """Take this queued reply to send it now (channel ``api``); 409 when another sender was first."""
        outgoing = services.outgoing_reply_claim(actor=request.user, outgoing=self.get_object(),
                                                 channel=OutboxChannel.API, claimer=api_claimer(request.user))
        return Response(OutgoingReplySerializer(outgoing).data)

    @extend_schema(request=OutgoingReceiptSerializer, responses=OutgoingReplySerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def receipt(self, request, pk=None):
        """Say what became of the reply this account claimed: ``confirmed``, ``rejected`` (with the reason) or
        ``unknown``. Rejected and unknown replies go back to a person; unknown ones are never sent again."""
        outgoing = self.get_object()
        data = OutgoingReceiptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outgoing = services.outgoing_reply_receipt(actor=request.user, outgoing=outgoing,
                                                   claimer=api_claimer(request.user), **data.validated_data)
        return Response(OutgoingReplySerializer(outgoing).data)

    @extend_schema(request=OutgoingCancelSerializer, responses=OutgoingReplySerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def cancel(self, request, pk=None):
        """Do not send this queued reply; its message goes back to the review queue."""
        outgoing = self.get_object()
        data = OutgoingCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outgoing = services.outgoing_reply_cancel(actor=request.user, outgoing=outgoing, **data.validated_data)
        return Response(OutgoingReplySerializer(outgoing).data)
