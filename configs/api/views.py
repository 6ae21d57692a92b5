"""Configs API: thin views over configs.services and configs.selectors."""

from django.db.models import ProtectedError
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from customer_service.shops.models import Shop
from kefu.api.filters import BooleanFilter, FilterSet
from kefu.api.viewsets import ScopedModelViewSet

from .. import selectors, services
from ..audit import request_meta
from ..exceptions import ConfigError
from ..models import ConfigCategory, ConfigTemplate, SystemConfig, UserConfig
from .serializers import (
    ConfigCategorySerializer,
    ConfigHistorySerializer,
    ConfigTemplateSerializer,
    DiffRowSerializer,
    RollbackSerializer,
    ShopSettingsSerializer,
    ShopSettingsUpdateSerializer,
    SystemConfigHistorySerializer,
    SystemConfigInputSerializer,
    SystemConfigSerializer,
    UserConfigCreateSerializer,
    UserConfigSerializer,
    UserConfigUpdateSerializer,
)


class UserConfigFilterSet(FilterSet):
    template_code = filters.CharFilter(field_name="template__code")
    expired = BooleanFilter(method="filter_expired")

    class Meta:
        model = UserConfig
        fields = ["template", "template_code", "user", "shop", "key", "scope", "is_active"]

    def filter_expired(self, queryset, name, value):
        expired = queryset.expired()
        return expired if value else queryset.exclude(pk__in=expired.values("pk"))


class UserConfigViewSet(ScopedModelViewSet):
    """Configs: yours and your shops'. Shop admins change their shops' configs; agents read them."""

    queryset = UserConfig.objects.select_related("template", "user", "shop")
    serializer_class = UserConfigSerializer
    filterset_class = UserConfigFilterSet
    search_fields = ["key", "display_name", "template__code", "template__name"]
    ordering_fields = ["updated_at", "created_at", "key", "version"]

    def can_create(self, request) -> bool:
        return True  # who may own the new config is checked by config_create

    @extend_schema(request=UserConfigCreateSerializer, responses={201: UserConfigSerializer})
    def create(self, request, *args, **kwargs):
        data = UserConfigCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if fields.get("shop") is None and fields.get("user") is None:
            fields["user"] = request.user  # your own, unless you name an owner
        config = services.config_create(actor=request.user, **fields, **request_meta(request))
        return Response(UserConfigSerializer(config).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UserConfigUpdateSerializer, responses=UserConfigSerializer)
    def update(self, request, *args, **kwargs):
        config = self.get_object()
        data = UserConfigUpdateSerializer(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        config = services.config_change(config=config, actor=request.user, expected_version=fields.pop("version", None),
                                        **fields, **request_meta(request))
        return Response(UserConfigSerializer(config).data)

    @extend_schema(request=UserConfigUpdateSerializer, responses=UserConfigSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(parameters=[OpenApiParameter("version", int, description="The version you are deleting."),
                               OpenApiParameter("reason", str, description="Why, kept in the history.")])
    def destroy(self, request, *args, **kwargs):
        config = self.get_object()
        version = request.query_params.get("version")
        if version is not None and not version.isdigit():
            raise ValidationError({"version": ["A whole number is required."]})
        services.config_delete(config=config, actor=request.user, expected_version=int(version) if version else None,
                               reason=request.query_params.get("reason", ""), **request_meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=ConfigHistorySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, pk=None):
        config = self.get_object()
        page = self.paginate_queryset(selectors.config_history_list(config=config))
        return self.get_paginated_response(ConfigHistorySerializer(page, many=True).data)

    @extend_schema(request=RollbackSerializer, responses=UserConfigSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        config = self.get_object()
        data = RollbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.config_rollback(config=config, actor=request.user, **data.validated_data, **request_meta(request))
        return Response(UserConfigSerializer(config).data)

    @extend_schema(
        parameters=[OpenApiParameter("from", int, required=True), OpenApiParameter("to", int, required=True)],
        responses=DiffRowSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def diff(self, request, pk=None):
        config = self.get_object()
        try:
            v1, v2 = int(request.query_params["from"]), int(request.query_params["to"])
        except (KeyError, ValueError):
            raise ValidationError({"from": ["Give two versions: ?from=1&to=3."]}) from None
        rows = selectors.config_versions_diff(config=config, from_version=v1, to_version=v2)
        return Response(DiffRowSerializer(rows, many=True).data)


    @extend_schema(methods=["get"], responses=ShopSettingsSerializer)
    @extend_schema(methods=["patch"], request=ShopSettingsUpdateSerializer, responses=ShopSettingsSerializer)
    @action(detail=False, methods=["get", "patch"], url_path=r"shop-settings/(?P<shop_id>\d+)")
    def shop_settings(self, request, shop_id=None):
        """A shop's settings as the pipeline reads them; PATCH merges keys (shop admins and superadmins)."""
        shop = Shop.objects.for_user(request.user).filter(pk=shop_id).first()
        if shop is None:
            raise NotFound()
        if request.method == "PATCH":
            data = ShopSettingsUpdateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            services.shop_settings_update(
                shop=shop, actor=request.user, values=data.validated_data["values"],
                expected_version=data.validated_data.get("version"), reason=data.validated_data["reason"],
                **request_meta(request),
            )
        config = selectors.shop_settings_config(shop=shop)
        return Response({"shop": shop.pk, "config": config.pk if config else None,
                         "version": config.version if config else 0,
                         "values": selectors.shop_settings_get(shop=shop)})


class ConfigTemplateViewSet(ScopedModelViewSet):
    """Templates: every signed-in user reads them; superadmins write them."""

    queryset = ConfigTemplate.objects.select_related("category")
    serializer_class = ConfigTemplateSerializer
    filterset_fields = ["category", "is_system", "is_active", "code"]
    search_fields = ["code", "name"]

    def perform_create(self, serializer):
        serializer.instance = services.template_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.template_update(
            template=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.template_delete(template=instance, actor=self.request.user)


class ConfigCategoryViewSet(ScopedModelViewSet):
    """Categories (a tree): every signed-in user reads them; superadmins write them."""

    queryset = ConfigCategory.objects.all()
    serializer_class = ConfigCategorySerializer
    filterset_fields = ["parent", "is_active", "code"]
    search_fields = ["code", "name"]

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise ConfigError("The category still has sub-categories.", code="config_category_in_use") from None


class PublicReadSuperadminWrite(permissions.BasePermission):
    anonymous_read_actions = ("list", "retrieve")  # the schema documents them as needing no sign-in

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_superadmin)


class SystemConfigViewSet(viewsets.ModelViewSet):
    """Typed system configs: public ones readable without signing in; the rest, and all writes, superadmin only."""

    queryset = SystemConfig.objects.all()
    serializer_class = SystemConfigSerializer
    permission_classes = [PublicReadSuperadminWrite]
    lookup_field = "key"
    lookup_value_regex = r"[A-Za-z0-9_.\-]+"
    filterset_fields = ["value_type", "is_public", "is_encrypted"]
    search_fields = ["key", "description"]

    def get_queryset(self):
        return super().get_queryset().for_user(self.request.user)

    @extend_schema(request=SystemConfigInputSerializer, responses={201: SystemConfigSerializer})
    def create(self, request, *args, **kwargs):
        data = SystemConfigInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("version", None)
        missing = [name for name in ("key", "value_type", "value") if name not in fields]
        if missing:
            raise ValidationError({name: ["This field is required."] for name in missing})
        config = services.system_config_create(actor=request.user, **fields, **request_meta(request))
        return Response(SystemConfigSerializer(config).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SystemConfigInputSerializer, responses=SystemConfigSerializer)
    def update(self, request, *args, **kwargs):
        config = self.get_object()
        data = SystemConfigInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "key" in fields and fields.pop("key") != config.key:
            raise ValidationError({"key": ["A key cannot be renamed; create a new one."]})
        expected = fields.pop("version", None)
        config = services.system_config_update(config=config, actor=request.user, expected_version=expected,
                                               **fields, **request_meta(request))
        return Response(SystemConfigSerializer(config).data)

    @extend_schema(request=SystemConfigInputSerializer, responses=SystemConfigSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, **kwargs)

    def perform_destroy(self, instance):
        services.system_config_delete(config=instance, actor=self.request.user, **request_meta(self.request))

    def _superadmin_only(self, request):
        if not (request.user.is_authenticated and request.user.is_superadmin):
            raise PermissionDenied()

    @extend_schema(responses=SystemConfigHistorySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, key=None):
        """Every change to this key (superadmins only; a secret masked)."""
        self._superadmin_only(request)
        config = self.get_object()
        rows = config.history.select_related("actor").order_by("-version", "-pk")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(SystemConfigHistorySerializer(page, many=True).data)

    @extend_schema(request=RollbackSerializer, responses=SystemConfigSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, key=None):
        config = self.get_object()
        data = RollbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        config = services.system_config_rollback(config=config, actor=request.user, **data.validated_data,
                                                 **request_meta(request))
        return Response(SystemConfigSerializer(config).data)
