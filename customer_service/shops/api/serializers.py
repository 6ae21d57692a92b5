from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..choices import ShopRole
from ..models import Shop, ShopMembership
from ..selectors import shop_member_candidates


class ShopSerializer(serializers.ModelSerializer):
    class Meta:
        model = Shop
        fields = ["id", "name", "qianniu_title", "is_active", "created_at", "updated_at"]


class ShopPurgeSerializer(serializers.Serializer):
    confirm = serializers.CharField(max_length=100, help_text="The shop's name, typed to confirm the purge.")


class ShopPurgeResultSerializer(serializers.Serializer):
    deleted = serializers.DictField(child=serializers.IntegerField(), help_text="Rows removed, by model.")


class ShopMembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ShopMembership
        fields = ["id", "user", "username", "role", "created_at"]
        read_only_fields = ["id", "username", "created_at"]


@extend_schema_field(OpenApiTypes.INT)
class MemberCandidateField(serializers.PrimaryKeyRelatedField):
    """A person the requester may add; anyone else answers as an unknown id."""

    def get_queryset(self):
        return shop_member_candidates(actor=self.context["request"].user)


class ShopMembershipInputSerializer(serializers.Serializer):
    user = MemberCandidateField()
    role = serializers.ChoiceField(choices=ShopRole.choices)


class ShopMemberInviteSerializer(serializers.Serializer):
    """A new person, created straight into the shop with a role."""

    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, required=False, max_length=256, trim_whitespace=False,
                                     style={"input_type": "password"})
    email = serializers.EmailField(required=False, allow_blank=True)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    role = serializers.ChoiceField(choices=ShopRole.choices)
