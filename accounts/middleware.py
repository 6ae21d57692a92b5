from django.contrib.auth import HASH_SESSION_KEY, logout
from django.utils import timezone

from .models import LoginSession
from .services import SESSION_LOGIN_ID_KEY, login_session_follow_key, login_session_touch


class LoginSessionMiddleware:
    """Ties a browser's Django session to its LoginSession row.

    1. The row is the one named in the session data (a session from before that
       was stored is matched by its key once, and then named).
    2. A revoked row signs the browser out; a live one has its activity noted.
    3. When the request gave the session a new key (Django does on a password
       change), the row follows it, so that revoking it later deletes the session
       the browser holds now.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is None:
            return self.get_response(request)
        started = timezone.now()
        key_before = session.session_key
        id_before = session.get(SESSION_LOGIN_ID_KEY)
        hash_before = session.get(HASH_SESSION_KEY)
        self._check(request, session, id_before)
        response = self.get_response(request)
        self._follow_key(request, session, key_before, id_before, hash_before, started)
        return response

    def _check(self, request, session, login_session_id):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        if login_session_id is not None:
            rows = LoginSession.objects.filter(pk=login_session_id)
        elif session.session_key:
            rows = LoginSession.objects.filter(session_key=session.session_key, kind=LoginSession.Kind.SESSION)
        else:
            return
        row = rows.values("pk", "user_id", "revoked_at", "last_activity_at").first()
        if row is None:
            if login_session_id is not None:
                logout(request)  # the row went with its sign-in
            return
        if row["revoked_at"] is not None or row["user_id"] != user.pk:
            logout(request)
            return
        if login_session_id is None:
            session[SESSION_LOGIN_ID_KEY] = row["pk"]
        login_session_touch(login_session_id=row["pk"], last_activity_at=row["last_activity_at"])

    def _follow_key(self, request, session, key_before, id_before, hash_before, started):
        # A sign-in in this request recorded its own key and id; a sign-out emptied the session.
        key = session.session_key
        if not key or key == key_before or id_before is None or session.get(SESSION_LOGIN_ID_KEY) != id_before:
            return
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        # update_session_auth_hash() stores the new password's hash: it kept this session signed in.
        kept = bool(hash_before) and session.get(HASH_SESSION_KEY) != hash_before
        login_session_follow_key(
            login_session_id=id_before, user_id=user.pk, session_key=key, kept_since=started if kept else None
        )
