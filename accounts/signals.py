"""Upkeep of sign-ins: recorded when they start, ended when they end or their credentials change.

Django's admin views (the user's password page, "change password"), its login and
logout and ``manage.py changepassword`` do not go through kefu's services, so the
sign-in records follow them here.
"""

from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from .models import LoginSession, User


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


@receiver(pre_save, sender=User, dispatch_uid="accounts_note_credential_change")
def note_credential_change(sender, instance, raw=False, update_fields=None, **kwargs):
    """Mark a save that gives the person a new password, an unusable one, or deactivates them.

    A new password is what Django counts as one: ``set_password()`` was called, which
    leaves the raw password in ``_password`` until the save (a hash upgrade at sign-in
    clears it first, so it is not a change). The stored row is read only when the
    person is saved inactive or without a usable password.
    """
    instance._kefu_end_sign_ins = False
    if raw or instance._state.adding or instance.pk is None:
        return
    if instance._password is not None:
        instance._kefu_end_sign_ins = True
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return
    if instance.is_active and instance.has_usable_password():
        return
    stored = sender._default_manager.filter(pk=instance.pk).values("is_active", "password").first()
    if stored is not None:
        instance._kefu_end_sign_ins = (stored["is_active"] and not instance.is_active) or (
            is_password_usable(stored["password"]) and not instance.has_usable_password()
        )


@receiver(post_save, sender=User, dispatch_uid="accounts_end_sign_ins_on_credential_change")
def end_sign_ins_on_credential_change(sender, instance, created, raw=False, **kwargs):
    if not getattr(instance, "_kefu_end_sign_ins", False):
        return
    instance._kefu_end_sign_ins = False
    from .services import login_session_revoke_all

    login_session_revoke_all(user=instance)
