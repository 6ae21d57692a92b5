from rest_framework import serializers

from customer_service.models import OutboxChannel, OutgoingReply, OutgoingState
from customer_service.outbox.services import REASON_MAX, RECEIPT_RESULTS
from kefu.validators import validate_no_control_characters


class OutgoingReplySerializer(serializers.ModelSerializer):
    """A reply on its way to a buyer: whom to send it to (``buyer_id`` in ``shop_name``'s Qianniu) and its state."""

    shop_name = serializers.CharField(source="shop.name", read_only=True)
    buyer_id = serializers.CharField(source="conversation.buyer_id", read_only=True)
    channel = serializers.ChoiceField(choices=OutboxChannel.choices, allow_blank=True, read_only=True,
                                      help_text="Who claimed it to send it; blank while it is queued.")

    class Meta:
        model = OutgoingReply
        fields = ["id", "shop", "shop_name", "conversation", "buyer_id", "message", "reply", "text", "state",
                  "channel", "claimed_by", "claimed_at", "lease_until", "finished_at", "receipt_reason",
                  "created_at", "updated_at"]
        read_only_fields = fields


class OutgoingReceiptSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=[(value, label) for value, label in OutgoingState.choices if value in RECEIPT_RESULTS],
        help_text="confirmed: the buyer has it; rejected: not sent (say why); unknown: it may or may not have "
                  "reached the buyer (a person decides; it is never sent again).",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=REASON_MAX,
                                   validators=[validate_no_control_characters])


class OutgoingCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=REASON_MAX,
                                   validators=[validate_no_control_characters])
