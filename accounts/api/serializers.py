from django.contrib.auth.password_validation import validate_password
from rest_framework import serializers

from ..models import LoginSession, User


class LoginInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(required=False, max_length=4096)


class RoleSerializer(serializers.Serializer):
    shop_id = serializers.IntegerField()
    shop = serializers.CharField()
    role = serializers.CharField()


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, required=False, max_length=256, trim_whitespace=False, style={"input_type": "password"}
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "password",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "is_superadmin",
            "daily_request_quota",
            "login_count",
            "last_login_at",
            "date_joined",
        ]
        read_only_fields = ["login_count", "last_login_at", "date_joined"]

    def validate_password(self, value):
        validate_password(value)
        return value


class MeSerializer(serializers.ModelSerializer):
    roles = RoleSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "is_superadmin",
            "daily_request_quota",
            "login_count",
            "last_login_at",
            "roles",
        ]


class LoginOutputSerializer(serializers.Serializer):
    user = MeSerializer()
    access = serializers.CharField()
    refresh = serializers.CharField()


class LoginSessionSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = LoginSession
        fields = [
            "id",
            "username",
            "kind",
            "ip",
            "user_agent",
            "device_info",
            "created_at",
            "last_activity_at",
            "expires_at",
            "revoked_at",
            "is_active",
        ]
