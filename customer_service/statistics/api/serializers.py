from rest_framework import serializers

from customer_service.models import DailyStatistics
from kefu.api.fields import IdField

from ..selectors import COUNTS, RATES


class DailyStatisticsSerializer(serializers.ModelSerializer):
    """One shop's figures of one local (Asia/Shanghai) day; the rates derive from the counts (null: nothing to
    divide by)."""

    shop_name = serializers.CharField(source="shop.name", read_only=True)
    auto_answer_rate = serializers.FloatField(read_only=True, allow_null=True)
    kb_hit_rate = serializers.FloatField(read_only=True, allow_null=True)
    ai_accuracy = serializers.FloatField(read_only=True, allow_null=True, help_text="approved unedited / reviewed")
    response_rate_3_minutes = serializers.FloatField(
        read_only=True, allow_null=True,
        help_text="Qianniu's 3-minute response rate: rounds started 08:00–24:00 answered within 3 minutes.",
    )
    ai_cost = serializers.DecimalField(max_digits=16, decimal_places=6, read_only=True, help_text="CNY")

    class Meta:
        model = DailyStatistics
        fields = ["id", "shop", "shop_name", "day", *COUNTS, "first_reply_median_seconds",
                  "first_reply_p95_seconds", "ai_cost", *RATES, "computed_at"]
        read_only_fields = fields


StatisticsSummarySerializer = type("StatisticsSummarySerializer", (serializers.Serializer,), {
    "__doc__": "Totals over the rows that match the filters; times are the slowest row's (medians do not add up).",
    "rows": serializers.IntegerField(),
    **{name: serializers.IntegerField() for name in COUNTS},
    "ai_cost": serializers.DecimalField(max_digits=20, decimal_places=6, help_text="CNY"),
    **{name: serializers.FloatField(allow_null=True) for name in RATES},
    "first_reply_median_seconds_max": serializers.FloatField(allow_null=True),
    "first_reply_p95_seconds_max": serializers.FloatField(allow_null=True),
})


class ThresholdQuerySerializer(serializers.Serializer):
    shop = IdField(help_text="the shop whose review outcomes to read")


class ThresholdApplySerializer(serializers.Serializer):
    shop = IdField()
    threshold = serializers.FloatField(
        required=False, min_value=0, max_value=1,
        help_text="The auto-send threshold to set; omitted: the suggestion computed now.",
    )


class ThresholdPointSerializer(serializers.Serializer):
    threshold = serializers.FloatField()
    answers = serializers.IntegerField(help_text="reviewed answers with a confidence at least the threshold")
    right = serializers.IntegerField(help_text="of which approved unedited")
    precision = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="Wilson 95 % lower bound")
    high = serializers.FloatField(allow_null=True, help_text="Wilson 95 % upper bound")


class CalibrationSerializer(serializers.Serializer):
    """A shop's precision at each auto-send threshold from review outcomes, and the suggested threshold: the
    lowest whose lower bound reaches the target, once ``min_reviewed`` answers were reviewed."""

    shop = serializers.IntegerField(source="shop_id")
    reviewed = serializers.IntegerField()
    target = serializers.FloatField()
    min_reviewed = serializers.IntegerField()
    current = serializers.FloatField()
    suggested = serializers.FloatField(allow_null=True)
    reason = serializers.CharField()
    points = ThresholdPointSerializer(many=True)
