from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver


@receiver(user_logged_in, dispatch_uid="accounts_record_browser_login")
def record_browser_login(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    from .services import login_session_record_browser

    login_session_record_browser(user=user, request=request)
