from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from customer_service.shops.models import Shop
from kefu.api.fields import JSONField

from .. import selectors
from ..choices import ConfigScope, ValueType
from ..models import ConfigCategory, ConfigHistory, ConfigTemplate, SystemConfig, SystemConfigHistory, UserConfig


class ConfigCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = ConfigCategory
        fields = ["id", "code", "name", "parent", "description", "sort_order", "is_active", "created_at",
                  "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs):
        instance = ConfigCategory(**{**({} if self.instance is None else {"pk": self.instance.pk}), **attrs})
        instance.clean()
        return attrs


class ConfigTemplateSerializer(serializers.ModelSerializer):
    # Required, though the model field has a default: a template is created with its
    # schema (services.template_create).
    schema = JSONField()
    defaults = JSONField(required=False)
    secret_paths = serializers.SerializerMethodField()

    class Meta:
        model = ConfigTemplate
        fields = ["id", "code", "name", "category", "description", "schema", "defaults", "secret_paths", "version",
                  "is_system", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "version", "secret_paths", "created_at", "updated_at"]

    def get_secret_paths(self, obj) -> list[str]:
        return obj.secret_paths()


class UserConfigSerializer(serializers.ModelSerializer):
    """A config as shown: secret fields masked."""

    template_code = serializers.CharField(source="template.code", read_only=True)
    values = serializers.SerializerMethodField()
    is_expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = UserConfig
        fields = ["id", "template", "template_code", "user", "shop", "key", "display_name", "values",
                  "encrypted_paths", "scope", "expires_at", "is_active", "is_expired", "version", "created_at",
                  "updated_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_values(self, obj):
        return selectors.config_masked_values(config=obj)


class UserConfigCreateSerializer(serializers.Serializer):
    template = serializers.PrimaryKeyRelatedField(queryset=ConfigTemplate.objects.filter(is_active=True))
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False, allow_null=True,
                                              help_text="Owner; default: you. Leave empty when shop is given.")
    shop = serializers.PrimaryKeyRelatedField(queryset=Shop.objects.all(), required=False, allow_null=True)
    key = serializers.SlugField(max_length=64, default="default")
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    values = JSONField(required=False, default=dict)
    scope = serializers.ChoiceField(choices=ConfigScope.choices, default=ConfigScope.GLOBAL)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    is_active = serializers.BooleanField(default=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class UserConfigUpdateSerializer(serializers.Serializer):
    values = JSONField(required=False, help_text="The whole document; a secret sent masked is kept.")
    version = serializers.IntegerField(required=False, min_value=1, help_text="The version you edited.")
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    scope = serializers.ChoiceField(choices=ConfigScope.choices, required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RollbackSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    expected_version = serializers.IntegerField(min_value=1, required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ConfigHistorySerializer(serializers.ModelSerializer):
    actor_username = serializers.CharField(source="actor.username", read_only=True, default=None)

    class Meta:
        model = ConfigHistory
        fields = ["id", "config_ref", "version", "action", "actor", "actor_username", "old_values", "new_values",
                  "reason", "ip", "user_agent", "created_at"]
        read_only_fields = fields


class DiffRowSerializer(serializers.Serializer):
    path = serializers.CharField()
    change = serializers.ChoiceField(choices=["added", "removed", "changed"])
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class SystemConfigSerializer(serializers.ModelSerializer):
    """A system config as shown: the value in its type; a secret masked."""

    value = serializers.SerializerMethodField()

    class Meta:
        model = SystemConfig
        fields = ["id", "key", "value_type", "value", "description", "is_public", "is_encrypted", "version",
                  "updated_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.ANY)
    def get_value(self, obj):
        return selectors.system_config_masked(config=obj)


class SystemConfigInputSerializer(serializers.Serializer):
    key = serializers.RegexField(r"^[a-z0-9][a-z0-9_.\-]*$", max_length=100, required=False)
    value_type = serializers.ChoiceField(choices=ValueType.choices, required=False)
    value = JSONField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    is_public = serializers.BooleanField(required=False)
    is_encrypted = serializers.BooleanField(required=False)
    version = serializers.IntegerField(required=False, min_value=1)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ShopSettingsSerializer(serializers.Serializer):
    """A shop's settings, every default filled in; ``version`` is 0 until the first change."""

    shop = serializers.IntegerField()
    config = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField()
    values = serializers.JSONField()


class ShopSettingsUpdateSerializer(serializers.Serializer):
    values = JSONField(help_text="Keys to change; the others keep their value. Nested objects merge "
                                 "key by key; lists replace.")
    version = serializers.IntegerField(required=False, min_value=0, help_text="The version you edited (0: none).")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SystemConfigHistorySerializer(serializers.ModelSerializer):
    actor_username = serializers.CharField(source="actor.username", read_only=True, default=None)

    class Meta:
        model = SystemConfigHistory
        fields = ["id", "key", "version", "action", "actor", "actor_username", "value_type", "is_encrypted",
                  "old_value", "new_value", "reason", "ip", "user_agent", "created_at"]
        read_only_fields = fields
