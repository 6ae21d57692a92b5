from rest_framework import serializers

from accounts.models import User

from ..choices import ShopRole
from ..models import Shop, ShopMembership


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


class ShopMembershipInputSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    role = serializers.ChoiceField(choices=ShopRole.choices)
