from rest_framework import serializers

from customer_service.shops.models import Shop
from kefu.api.fields import IdField

from ..models import ANSWER_MAX_LENGTH, KnowledgeItem


class KnowledgeItemSerializer(serializers.ModelSerializer):
    """An item as shown; ``shop`` null means shared by every shop."""

    similar_questions = serializers.SerializerMethodField()

    class Meta:
        model = KnowledgeItem
        fields = ["id", "shop", "question", "answer", "category", "keywords", "similar_questions", "is_active",
                  "external_id", "created_by", "updated_by", "created_at", "updated_at"]
        read_only_fields = fields

    def get_similar_questions(self, obj) -> list[str]:
        return obj.similar_texts()


class KnowledgeItemInputSerializer(serializers.Serializer):
    shop = serializers.PrimaryKeyRelatedField(queryset=Shop.objects.all(), allow_null=True, required=False)
    question = serializers.CharField(max_length=500)
    answer = serializers.CharField(max_length=ANSWER_MAX_LENGTH)
    category = serializers.CharField(max_length=100, required=False, allow_blank=True)
    keywords = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=100)
    similar_questions = serializers.ListField(child=serializers.CharField(max_length=500), required=False,
                                              max_length=200)
    is_active = serializers.BooleanField(required=False)
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)


class SearchQuerySerializer(serializers.Serializer):
    shop = IdField()
    q = serializers.CharField(max_length=2000, trim_whitespace=False)
    k = serializers.IntegerField(min_value=1, max_value=50, default=5)


class SearchHitSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    question = serializers.CharField()
    answer = serializers.CharField()
    category = serializers.CharField()
    shop_id = serializers.IntegerField(allow_null=True)
    external_id = serializers.CharField()
    matched_phrasing = serializers.CharField()
    matched_kind = serializers.CharField()
    confidence = serializers.FloatField()
    score = serializers.FloatField()
    signals = serializers.DictField(child=serializers.FloatField())
    calibrated = serializers.BooleanField(help_text="False: the calibration was fitted for another embedder and "
                                                    "the confidence is capped below any auto-send threshold.")


class SearchResultSerializer(serializers.Serializer):
    shop = serializers.IntegerField()
    query = serializers.CharField()
    took_ms = serializers.FloatField()
    hits = SearchHitSerializer(many=True)
