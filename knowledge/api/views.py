"""Knowledge API: thin views over knowledge.services and knowledge.selectors."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from customer_service.shops.models import Shop
from customer_service.shops.selectors import shop_is_manageable
from kefu.api.filters import BooleanFilter, FilterSet
from kefu.api.viewsets import ScopedModelViewSet

from .. import selectors, services
from ..models import KnowledgeItem, SimilarQuestion
from .serializers import (
    KnowledgeItemInputSerializer,
    KnowledgeItemSerializer,
    SearchQuerySerializer,
    SearchResultSerializer,
)


class KnowledgeItemFilterSet(FilterSet):
    shared = BooleanFilter(field_name="shop", lookup_expr="isnull", label="shared by every shop")

    class Meta:
        model = KnowledgeItem
        fields = ["shop", "category", "is_active", "external_id", "shared"]


class KnowledgeItemViewSet(ScopedModelViewSet):
    """Knowledge items of your shops plus the shared ones. Shop admins change their shops' items;
    shared items are changed by superadmins; agents read."""

    queryset = KnowledgeItem.objects.select_related("shop").prefetch_related(
        Prefetch("similar_questions", queryset=SimilarQuestion.objects.order_by("position", "id"))
    )
    serializer_class = KnowledgeItemSerializer
    filterset_class = KnowledgeItemFilterSet
    search_fields = ["question", "answer", "category", "similar_questions__text"]
    ordering_fields = ["updated_at", "created_at", "question", "category"]

    def can_create(self, request) -> bool:
        return True  # whether the user may write to the chosen shop is checked in create

    def _check_shop(self, shop) -> None:
        user = self.request.user
        if shop is None:
            if not user.is_superadmin:
                raise PermissionDenied("Only a superadmin may change items shared by every shop.")
        elif not shop_is_manageable(user=user, shop=shop):
            raise PermissionDenied("Only an admin of this shop may change its items.")

    @extend_schema(request=KnowledgeItemInputSerializer, responses={201: KnowledgeItemSerializer})
    def create(self, request, *args, **kwargs):
        data = KnowledgeItemInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        shop = fields.pop("shop", None)
        self._check_shop(shop)
        item = services.knowledge_item_create(actor=request.user, shop=shop, **fields)
        return Response(KnowledgeItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=KnowledgeItemInputSerializer, responses={200: KnowledgeItemSerializer})
    def update(self, request, *args, **kwargs):
        item = self.get_object()
        data = KnowledgeItemInputSerializer(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "shop" in fields and fields["shop"] != item.shop:
            self._check_shop(fields["shop"])
        item = services.knowledge_item_update(item=item, actor=request.user, **fields)
        return Response(KnowledgeItemSerializer(item).data)

    @extend_schema(request=KnowledgeItemInputSerializer, responses={200: KnowledgeItemSerializer})
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance):
        services.knowledge_item_delete(item=instance, actor=self.request.user)

    @extend_schema(
        parameters=[OpenApiParameter("shop", int, required=True), OpenApiParameter("q", str, required=True),
                    OpenApiParameter("k", int, required=False)],
        responses={200: SearchResultSerializer},
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def search(self, request):
        """Rank the shop's items (and the shared ones) for a buyer's message, with a calibrated confidence."""
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        shop = Shop.objects.for_user(request.user).filter(pk=params.validated_data["shop"]).first()
        if shop is None:
            raise NotFound("No such shop.")
        hits, took_ms = selectors.knowledge_search_timed(shop=shop, text=params.validated_data["q"],
                                                         k=params.validated_data["k"])
        return Response({"shop": shop.pk, "query": params.validated_data["q"], "took_ms": round(took_ms, 2),
                         "hits": [hit.as_dict() for hit in hits]})
