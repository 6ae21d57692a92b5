from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication

from .models import LoginSession
from .services import login_session_touch


class SessionAuthentication(authentication.SessionAuthentication):
    """Django's session, as the browsable API and the admin use it."""


class JWTAuthentication(SimpleJWTAuthentication):
    """Bearer access tokens; one whose sign-in was revoked is refused at once."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        session_id = validated_token.get("sid")
        if session_id is not None:
            row = LoginSession.objects.filter(pk=session_id).values("revoked_at", "last_activity_at").first()
            if row is None or row["revoked_at"] is not None:
                raise exceptions.AuthenticationFailed(
                    _("This sign-in was ended. Sign in again."), code="session_revoked"
                )
            login_session_touch(login_session_id=session_id, last_activity_at=row["last_activity_at"])
        return user
