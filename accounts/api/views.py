from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView

from kefu.api.filters import FilterSet
from kefu.api.viewsets import ScopedModelViewSet
from kefu.scoping import roles

from .. import services
from ..models import LoginSession, User
from .serializers import (
    LoginInputSerializer,
    LoginOutputSerializer,
    LoginSessionSerializer,
    LogoutInputSerializer,
    MeSerializer,
    TokenRefreshSerializer,
    UserSerializer,
)


def _me(user):
    user.roles = roles().summary(user)
    return MeSerializer(user).data


class LoginView(APIView):
    """Exchange a username and password for the user, their roles and a JWT pair."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_classes = [AnonRateThrottle]

    @extend_schema(request=LoginInputSerializer, responses=LoginOutputSerializer)
    def post(self, request):
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.auth_login(**data.validated_data, request=request)
        return Response({"user": _me(result["user"]), "access": result["access"], "refresh": result["refresh"]})


class LogoutView(APIView):
    """End the current sign-in: the refresh token given, or the browser session."""

    @extend_schema(request=LogoutInputSerializer, responses={204: None})
    def post(self, request):
        data = LogoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.auth_logout(user=request.user, request=request, refresh=data.validated_data.get("refresh"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RefreshView(TokenRefreshView):
    """Exchange a refresh token for a new access token, while its person and sign-in are live."""

    serializer_class = TokenRefreshSerializer


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(_me(request.user))


class UserFilterSet(FilterSet):
    class Meta:
        model = User
        fields = ["is_active", "is_superadmin", "username"]


class UserViewSet(ScopedModelViewSet):
    """People: superadmins manage everyone; others see themselves and their shops' people."""

    queryset = User.objects.all()
    serializer_class = UserSerializer
    filterset_class = UserFilterSet
    search_fields = ["username", "email"]
    ordering_fields = ["username", "date_joined", "last_login_at"]

    def perform_create(self, serializer):
        serializer.instance = services.user_create(**serializer.validated_data)

    def perform_update(self, serializer):
        own = serializer.instance == self.request.user
        with services.keeping_sign_in(self._current_sign_in() if own else None):
            serializer.instance = services.user_update(user=serializer.instance, **serializer.validated_data)
        if own and "password" in serializer.validated_data and hasattr(self.request, "session"):
            # The browser this came from stays signed in, as on the admin's password page.
            update_session_auth_hash(self.request._request, serializer.instance)

    def _current_sign_in(self) -> int | None:
        token = self.request.auth
        if token is not None and hasattr(token, "get"):
            return token.get("sid")
        session = getattr(self.request, "session", None)
        return session.get(services.SESSION_LOGIN_ID_KEY) if session is not None else None

    def perform_destroy(self, instance):
        # Usage, history and audit rows name the person: deleting them would blank
        # those and take their own configs along. DELETE deactivates; the admin's
        # delete page, which lists everything that goes too, deletes for good.
        services.user_deactivate(user=instance)

    @extend_schema(responses=LoginSessionSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def sessions(self, request, pk=None):
        """The person's latest 100 sign-ins, as a plain list."""
        user = self.get_object()
        rows = LoginSession.objects.for_user(request.user).filter(user=user).select_related("user")[:100]
        return Response(LoginSessionSerializer(rows, many=True).data)
