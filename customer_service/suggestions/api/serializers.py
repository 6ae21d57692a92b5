from rest_framework import serializers

from customer_service.models import KnowledgeSuggestion


class KnowledgeSuggestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = KnowledgeSuggestion
        fields = ["id", "shop", "kind", "question", "answer", "knowledge_item", "count", "status", "review_item",
                  "created_item", "decided_by", "decided_at", "created_at", "updated_at"]
        read_only_fields = fields


class KnowledgeSuggestionAcceptSerializer(serializers.Serializer):
    """The texts as the person edited them; left out, the suggestion's own."""

    question = serializers.CharField(required=False, max_length=1000)
    answer = serializers.CharField(required=False, allow_blank=True, max_length=5000)
