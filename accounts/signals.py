from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .models import LoginSession


@receiver(user_logged_in, dispatch_uid="accounts_record_browser_login")
def record_browser_login(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    from .services import login_session_record_browser

    login_session_record_browser(user=user, request=request)


@receiver(user_logged_out, dispatch_uid="accounts_end_browser_login")
def end_browser_login(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    from .services import SESSION_LOGIN_ID_KEY, login_session_revoke

    login_session_id = request.session.get(SESSION_LOGIN_ID_KEY)
    if login_session_id is None or user is None:
        return
    login_session = LoginSession.objects.filter(pk=login_session_id, user=user, revoked_at__isnull=True).first()
    if login_session is not None:
        login_session_revoke(login_session=login_session)
