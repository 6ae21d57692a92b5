from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from customer_service.models import KnowledgeSuggestion
from kefu.api.filters import FilterSet
from kefu.api.viewsets import ScopedReadOnlyViewSet

from .. import services
from .serializers import KnowledgeSuggestionAcceptSerializer, KnowledgeSuggestionSerializer


class KnowledgeSuggestionFilterSet(FilterSet):
    class Meta:
        model = KnowledgeSuggestion
        fields = ["shop", "kind", "status"]


class KnowledgeSuggestionViewSet(ScopedReadOnlyViewSet):
    """What review outcomes suggest for the knowledge base; a shop's admins accept (with edits) or dismiss."""

    queryset = KnowledgeSuggestion.objects.select_related("shop")
    serializer_class = KnowledgeSuggestionSerializer
    filterset_class = KnowledgeSuggestionFilterSet
    search_fields = ["question", "answer"]
    ordering_fields = ["count", "created_at", "updated_at"]

    def get_manageable_queryset(self):
        return KnowledgeSuggestion.objects.manageable_by(self.request.user)

    @extend_schema(request=KnowledgeSuggestionAcceptSerializer, responses=KnowledgeSuggestionSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def accept(self, request, pk=None):
        """Accept: a new knowledge entry, or the phrasing as a similar question of the chosen entry."""
        data = KnowledgeSuggestionAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        suggestion = services.knowledge_suggestion_accept(actor=request.user, suggestion=self.get_object(),
                                                          **data.validated_data)
        return Response(KnowledgeSuggestionSerializer(suggestion).data)

    @extend_schema(request=None, responses=KnowledgeSuggestionSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def dismiss(self, request, pk=None):
        suggestion = services.knowledge_suggestion_dismiss(actor=request.user, suggestion=self.get_object())
        return Response(KnowledgeSuggestionSerializer(suggestion).data)
