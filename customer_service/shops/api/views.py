from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from accounts.models import User
from kefu.api.filters import FilterSet
from kefu.api.viewsets import ScopedModelViewSet

from .. import services
from ..models import Shop, ShopMembership
from ..selectors import shop_is_manageable
from .serializers import (
    ShopMemberInviteSerializer,
    ShopMembershipInputSerializer,
    ShopMembershipSerializer,
    ShopPurgeResultSerializer,
    ShopPurgeSerializer,
    ShopSerializer,
)


class ShopFilterSet(FilterSet):
    class Meta:
        model = Shop
        fields = ["is_active", "name"]


class ShopViewSet(ScopedModelViewSet):
    """Shops: superadmins create and delete; shop admins change their own; agents read."""

    queryset = Shop.objects.all()
    serializer_class = ShopSerializer
    filterset_class = ShopFilterSet
    search_fields = ["name", "qianniu_title"]
    ordering_fields = ["name", "created_at"]

    def perform_create(self, serializer):
        serializer.instance = services.shop_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.shop_update(
            actor=self.request.user, shop=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.shop_delete(actor=self.request.user, shop=instance)

    def _require_manager(self, shop):
        # Before the input is read or a person looked up: what those say is for the shop's managers only.
        if not shop_is_manageable(user=self.request.user, shop=shop):
            raise PermissionDenied()

    def _any_shop(self, pk):
        """A shop, deleted or not, for the superadmin who may restore or purge it (404 for anyone else)."""
        if not self.request.user.is_superadmin:
            raise NotFound()
        return get_object_or_404(Shop.all_objects, pk=pk)

    @extend_schema(request=None, responses=ShopSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def restore(self, request, pk=None):
        """Bring back a deleted shop with everything it owns (superadmins)."""
        shop = services.shop_restore(actor=request.user, shop=self._any_shop(pk))
        return Response(ShopSerializer(shop).data)

    @extend_schema(request=ShopPurgeSerializer, responses=ShopPurgeResultSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def purge(self, request, pk=None):
        """Remove a deleted shop for good, with its knowledge, budgets and configs (superadmins).

        ``confirm`` must be the shop's name. The answer counts what was removed, by kind.
        """
        shop = self._any_shop(pk)
        data = ShopPurgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        counts = services.shop_purge(actor=request.user, shop=shop, confirm_name=data.validated_data["confirm"])
        return Response({"deleted": counts})

    @extend_schema(methods=["get"], responses=ShopMembershipSerializer(many=True))
    @extend_schema(methods=["post"], request=ShopMembershipInputSerializer, responses={201: ShopMembershipSerializer})
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def members(self, request, pk=None):
        shop = self.get_object()
        if request.method == "GET":
            rows = ShopMembership.objects.filter(shop=shop).select_related("user")
            page = self.paginate_queryset(rows)
            return self.get_paginated_response(ShopMembershipSerializer(page, many=True).data)
        self._require_manager(shop)
        data = ShopMembershipInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        membership = services.shop_membership_set(actor=request.user, shop=shop, **data.validated_data)
        return Response(ShopMembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ShopMemberInviteSerializer, responses={201: ShopMembershipSerializer})
    @action(detail=True, methods=["post"], url_path="members/invite", filter_backends=[], pagination_class=None)
    def invite_member(self, request, pk=None):
        """Create a new person straight into this shop with a role (shop admins and superadmins)."""
        shop = self.get_object()
        self._require_manager(shop)
        data = ShopMemberInviteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.shop_member_invite(actor=request.user, shop=shop, **data.validated_data)
        return Response(ShopMembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<user_id>\d+)")
    def remove_member(self, request, pk=None, user_id=None):
        shop = self.get_object()
        self._require_manager(shop)
        # Only people the requester sees: anyone else is "not found", like an id nobody has.
        user = get_object_or_404(User.objects.for_user(request.user), pk=user_id)
        services.shop_membership_remove(actor=request.user, shop=shop, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)
