from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.settings import api_settings

from ..models import LoginSession, User


class LoginInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(required=False, max_length=4096)


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """A refresh token buys a new access token only while its person and its sign-in are live.

    simplejwt's own check looks the person up with ``get()``: a 500 for a deleted one.
    Named as simplejwt's, so the OpenAPI schema keeps calling it TokenRefresh.
    """

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])  # TokenError: the view answers 401
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        if not User.objects.filter(pk=user_id, is_active=True).exists():
            raise AuthenticationFailed(self.error_messages["no_active_account"], code="no_active_account")
        session_id = refresh.payload.get("sid")
        if session_id is not None and not LoginSession.objects.active().filter(pk=session_id, user_id=user_id).exists():
            raise AuthenticationFailed(_("This sign-in was ended. Sign in again."), code="session_revoked")
        return super().validate(attrs)


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
