"""Sign-in, sign-out, login sessions, and the people who sign in."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, logout
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from kefu.exceptions import Conflict, KefuError
from kefu.validators import without_control_characters

from .models import LoginSession, User
from .selectors import active_superadmin_ids
from .throttling import login_failure_record, login_success_record, login_throttle_check

ACTIVITY_WRITE_INTERVAL = timedelta(seconds=60)
# Where a browser's Django session keeps the id of its LoginSession row. The data
# travels with the session when Django gives it a new key (cycle_key on a password
# change); the key itself does not identify the sign-in for long.
SESSION_LOGIN_ID_KEY = "_kefu_login_session_id"


class InvalidCredentials(KefuError):
    code = "invalid_credentials"
    status_code = 401


class LastSuperadmin(Conflict):
    code = "last_superadmin"


def last_superadmin_message(user: User) -> str:
    return _("%(user)s is the last active superadmin: make someone else a superadmin first.") % {"user": user}


def client_ip(request) -> str | None:
    # Only the direct peer: X-Forwarded-For is trusted only behind a proxy that
    # sets REMOTE_ADDR itself (gunicorn behind nginx with proxy_protocol/real_ip).
    return request.META.get("REMOTE_ADDR") or None


def client_user_agent(request) -> str:
    """The User-Agent header as recorded: 512 characters at most, control characters replaced.

    The header is whatever the client sent; a NUL in it would make PostgreSQL
    refuse the row that records the sign-in or the change.
    """
    return without_control_characters(request.META.get("HTTP_USER_AGENT") or "")[:512]


def device_from_user_agent(user_agent: str) -> str:
    ua = user_agent.lower()
    system = next(
        (name for key, name in (("windows", "Windows"), ("iphone", "iPhone"), ("ipad", "iPad"),
                                ("android", "Android"), ("mac os", "macOS"), ("linux", "Linux")) if key in ua),
        "",
    )
    client = next(
        (name for key, name in (("edg/", "Edge"), ("qianniu", "Qianniu"), ("chrome/", "Chrome"),
                                ("firefox/", "Firefox"), ("safari/", "Safari"), ("python", "Python"),
                                ("curl/", "curl")) if key in ua),
        "",
    )
    return " / ".join(filter(None, (system, client)))[:128]


def _session_values(request) -> dict:
    user_agent = client_user_agent(request)
    return {"ip": client_ip(request), "user_agent": user_agent, "device_info": device_from_user_agent(user_agent)}


def _count_login(user: User) -> None:
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(login_count=F("login_count") + 1, last_login_at=now, last_login=now)


def login_session_record_browser(*, user: User, request) -> LoginSession:
    """Record a browser sign-in (admin or browsable API) against its Django session.

    The row's id goes into the session data, where the middleware and sign-out find it.
    Side effects: counts the login; a sign-in that replaces an earlier one in the same
    session (the same person signing in again) ends the earlier row.
    """
    session: SessionBase = request.session
    if not session.session_key:
        session.save()
    with transaction.atomic():
        previous = session.get(SESSION_LOGIN_ID_KEY)
        if previous is not None:
            LoginSession.objects.filter(pk=previous, revoked_at__isnull=True).update(revoked_at=timezone.now())
        _count_login(user)
        login_session = LoginSession.objects.create(
            user=user,
            kind=LoginSession.Kind.SESSION,
            session_key=session.session_key,
            expires_at=timezone.now() + timedelta(seconds=session.get_expiry_age()),
            **_session_values(request),
        )
    session[SESSION_LOGIN_ID_KEY] = login_session.pk
    return login_session


def auth_login(*, username: str, password: str, request) -> dict:
    """Check credentials and issue a JWT pair tied to a new LoginSession.

    1. The throttle check (which may wait) and the password check (slow hashing)
       run outside any transaction: on SQLite a transaction holds the database's
       write lock from its BEGIN (kefu opens them IMMEDIATE), so a failed sign-in
       must not hold it while it waits.
    2. Only the writes of a successful sign-in share a transaction.

    Returns: {"user": User, "access": str, "refresh": str, "session": LoginSession}.
    Raises: LoginLocked after repeated failures, InvalidCredentials on a bad pair.
    """
    ip = client_ip(request)
    login_throttle_check(ip=ip, username=username)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        login_failure_record(ip=ip, username=username)
        raise InvalidCredentials(_("The username or password is wrong."))
    login_success_record(ip=ip, username=username)
    with transaction.atomic():
        _count_login(user)
        refresh = RefreshToken.for_user(user)
        session = LoginSession.objects.create(
            user=user,
            kind=LoginSession.Kind.JWT,
            refresh_jti=refresh["jti"],
            expires_at=timezone.now() + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"],
            **_session_values(request),
        )
    refresh["sid"] = session.pk
    return {"user": user, "refresh": str(refresh), "access": str(refresh.access_token), "session": session}


@transaction.atomic
def login_session_revoke(*, login_session: LoginSession) -> LoginSession:
    """End a sign-in: its Django session is deleted and its refresh token blacklisted.

    The row holds the browser session's current key (the middleware follows key
    changes). Should a change ever be missed, the browser is still signed out on
    its next request: its session data names this row, which is now revoked.
    """
    if login_session.revoked_at is None:
        login_session.revoked_at = timezone.now()
        login_session.save(update_fields=["revoked_at", "updated_at"])
    if login_session.session_key:
        engine = import_string(settings.SESSION_ENGINE + ".SessionStore")
        engine(session_key=login_session.session_key).delete()
    if login_session.refresh_jti:
        for token in OutstandingToken.objects.filter(jti=login_session.refresh_jti):
            BlacklistedToken.objects.get_or_create(token=token)
    return login_session


def _sign_in_of_request(*, user: User, request, refresh: str | None):
    """The LoginSession rows a sign-out from ``request`` ends: the refresh token's sign-in when
    one is given, else the access token's, else the browser session's."""
    sessions = LoginSession.objects.filter(user=user)
    auth = getattr(request, "auth", None)
    if refresh:
        try:
            jti = RefreshToken(refresh)["jti"]
        except TokenError:
            raise KefuError(_("The refresh token is not valid."), code="invalid_token") from None
        return sessions.filter(refresh_jti=jti)
    if auth is not None and auth.get("sid") is not None:
        return sessions.filter(pk=auth["sid"])
    if request.session.get(SESSION_LOGIN_ID_KEY) is not None:
        return sessions.filter(pk=request.session[SESSION_LOGIN_ID_KEY])
    if request.session.session_key:
        return sessions.filter(session_key=request.session.session_key)
    return sessions.none()


def auth_logout(*, user: User, request, refresh: str | None = None) -> int:
    """Sign ``user`` out of the sign-in ``request`` comes from (or the one ``refresh`` belongs to).

    Each such LoginSession is revoked (login_session_revoke), all in one transaction; a browser
    (not token) request also loses its Django session. Returns how many sign-ins were ended.
    Raises KefuError ``invalid_token`` for a refresh token that is not one of ours.
    """
    with transaction.atomic():
        ended = 0
        for login_session in _sign_in_of_request(user=user, request=request, refresh=refresh):
            login_session_revoke(login_session=login_session)
            ended += 1
    if getattr(request, "auth", None) is None:
        logout(request)
    return ended


# The sign-in a person is changing their own password from: the change ends their
# other sign-ins, not the one they are using (as Django keeps the admin's session).
_kept_sign_in: ContextVar[int | None] = ContextVar("kefu_kept_sign_in", default=None)


@contextmanager
def keeping_sign_in(login_session_id: int | None):
    token = _kept_sign_in.set(login_session_id)
    try:
        yield
    finally:
        _kept_sign_in.reset(token)


@transaction.atomic
def login_session_revoke_all(*, user: User) -> int:
    """End every live sign-in of ``user`` (browser sessions and API tokens), but the one
    ``keeping_sign_in`` names.

    Called when their password changes or they are deactivated (accounts.signals).
    Returns how many sign-ins were ended.
    """
    ended = 0
    for login_session in LoginSession.objects.filter(user=user).active().exclude(pk=_kept_sign_in.get()):
        login_session_revoke(login_session=login_session)
        ended += 1
    return ended


def login_session_touch(*, login_session_id: int, last_activity_at) -> None:
    """Note activity, writing at most once a minute per sign-in.

    ``last_activity_at`` is the value the caller has just read. A recent one means
    no statement at all: on SQLite even an UPDATE that matches no row waits for the
    database's write lock, and this runs on every request.
    """
    now = timezone.now()
    if last_activity_at is not None and last_activity_at >= now - ACTIVITY_WRITE_INTERVAL:
        return
    LoginSession.objects.filter(pk=login_session_id, last_activity_at__lt=now - ACTIVITY_WRITE_INTERVAL).update(
        last_activity_at=now
    )


@transaction.atomic
def login_session_follow_key(*, login_session_id: int, user_id: int, session_key: str, kept_since=None) -> None:
    """Point a browser sign-in at its session's new key (Django cycles keys on password changes).

    ``kept_since``: the request that changed the key also kept the session signed in
    through ``update_session_auth_hash``, i.e. the person changed their own password
    from this browser. That change ended every sign-in of theirs, this one included;
    this one is reopened, but only if it was ended during that request (from
    ``kept_since`` on), never an earlier revocation.
    """
    rows = LoginSession.objects.filter(pk=login_session_id, user_id=user_id, kind=LoginSession.Kind.SESSION)
    rows.update(session_key=session_key)
    if kept_since is not None:
        rows.filter(revoked_at__gte=kept_since).update(revoked_at=None)


def user_apply_superadmin_flag(user: User) -> None:
    # Superadmins get Django's superuser bit (every admin page); shop people
    # need only the staff bit, given with their first membership.
    user.is_superuser = user.is_superadmin
    if user.is_superadmin:
        user.is_staff = True


def _superadmin_keep_one(*, user: User, removing: bool = False) -> None:
    """Refuse a write that would leave no active superadmin; call it inside the write's transaction.

    ``user`` carries the values about to be saved; ``removing``: it is about to be deleted.
    The active superadmins are locked (PostgreSQL) so two of them demoting each other
    at once cannot both succeed; on SQLite kefu's IMMEDIATE transactions already
    serialise writers.

    Raises: LastSuperadmin.
    """
    if not removing and user.is_active and user.is_superadmin:
        return
    if active_superadmin_ids(lock=True) == [user.pk]:
        raise LastSuperadmin(last_superadmin_message(user))


def _full_clean(user: User) -> None:
    # The database refuses a username that differs from another only in case; say so
    # about the field (the constraint's own error names no field).
    if User.objects.filter(username__iexact=user.username).exclude(pk=user.pk).exists():
        raise ValidationError({"username": User._meta.get_field("username").error_messages["unique"]})
    user.full_clean(exclude=["password"])


def _set_password(user: User, password: str) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)


@transaction.atomic
def user_create(*, username: str, password: str | None = None, **fields) -> User:
    """Create a person; without a password they cannot sign in until one is set.

    Raises: ValidationError for a bad field, a username taken in any letter case, or a
    password Django's password validators refuse.
    """
    user = User(username=username, **fields)
    user_apply_superadmin_flag(user)
    _full_clean(user)
    if password:
        _set_password(user, password)
    else:
        user.set_unusable_password()
    user.save()
    return user


@transaction.atomic
def user_update(*, user: User, password: str | None = None, **fields) -> User:
    """Change a person's fields and, given one, their password.

    Raises: ValidationError (as user_create); LastSuperadmin when the change would
    leave no active superadmin.
    Side effect: a new password or a deactivation ends every sign-in of the person
    (accounts.signals, which also sees the admin's and Django's own password forms).
    """
    for name, value in fields.items():
        setattr(user, name, value)
    user_apply_superadmin_flag(user)
    _superadmin_keep_one(user=user)
    _full_clean(user)
    if password:
        _set_password(user, password)
    user.save()
    return user


def user_deactivate(*, user: User) -> User:
    """Stop a person signing in, keeping their row for the records that name them.

    Raises: LastSuperadmin. Side effect: their sign-ins end.
    """
    return user_update(user=user, is_active=False)


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete a person for good (the admin's delete page; the API deactivates instead).

    Usage and history rows keep the event but lose the name; the person's own model
    configs and settings go with them.
    Raises: LastSuperadmin.
    """
    _superadmin_keep_one(user=user, removing=True)
    login_session_revoke_all(user=user)
    user.delete()
