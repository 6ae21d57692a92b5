from .models import LoginSession
from .services import login_session_touch


class LoginSessionMiddleware:
    """Notes activity on the browser session's LoginSession; a revoked one signs the user out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        key = getattr(getattr(request, "session", None), "session_key", None)
        if user is not None and user.is_authenticated and key:
            row = LoginSession.objects.filter(session_key=key).values("pk", "revoked_at", "last_activity_at").first()
            if row and row["revoked_at"] is not None:
                from django.contrib.auth import logout

                logout(request)
            elif row:
                login_session_touch(login_session_id=row["pk"], last_activity_at=row["last_activity_at"])
        return self.get_response(request)
