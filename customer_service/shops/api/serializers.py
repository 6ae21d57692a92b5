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
