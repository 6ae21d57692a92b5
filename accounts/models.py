from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kefu.fields import InputCharField
from kefu.models import TimestampedModel
from kefu.scoping import roles


class UserQuerySet(models.QuerySet):
    def for_user(self, user):
        """Superadmins see everyone; others see themselves and the people they work with (kefu.scoping.roles)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(Q(pk=user.pk) | roles().colleagues(user)).distinct()

    def manageable_by(self, user):
        if getattr(user, "is_authenticated", False) and user.is_superadmin:
            return self
        return self.none()


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_superadmin", True)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in to kefu: a superadmin, or a shop admin / agent through memberships."""

    is_superadmin = models.BooleanField(
        _("superadmin"),
        default=False,
        help_text=_("Sees and manages every shop, user and setting."),
    )
    daily_request_quota = models.PositiveIntegerField(
        _("daily AI request quota"),
        default=1000,
        help_text=_("AI calls this user may cause per day; 0 means none."),
    )
    # AbstractUser's names, as typed text.
    first_name = InputCharField(_("first name"), max_length=150, blank=True)
    last_name = InputCharField(_("last name"), max_length=150, blank=True)
    login_count = models.PositiveIntegerField(_("login count"), default=0, editable=False)
    last_login_at = models.DateTimeField(_("last login at"), null=True, blank=True, editable=False)

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["username"]
        constraints = [
            # Sign-in matches the exact name, but "Agent" beside "agent" confuses people, and
            # the login throttle counts failures per lower-cased name (accounts.throttling):
            # one name per person, whatever its letter case, as Django's UserCreationForm expects.
            models.UniqueConstraint(
                Lower("username"),
                name="%(app_label)s_%(class)s_username_unique_ignoring_case",
                violation_error_message=_("A user with that username already exists."),
            ),
        ]

    def __str__(self):
        return self.username


class LoginSessionQuerySet(models.QuerySet):
    def for_user(self, user):
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(user=user)

    def manageable_by(self, user):
        return self.for_user(user)

    def active(self):
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class LoginSession(TimestampedModel):
    """One sign-in: through the admin / browsable API (a Django session) or the API (a JWT pair)."""

    class Kind(models.TextChoices):
        SESSION = "session", _("Browser session")
        JWT = "jwt", _("API token")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="login_sessions"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    device_info = models.CharField(_("device"), max_length=128, blank=True)
    session_key = models.CharField(_("session key"), max_length=64, blank=True, db_index=True, editable=False)
    refresh_jti = models.CharField(_("refresh token id"), max_length=255, blank=True, db_index=True, editable=False)
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = LoginSessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("login session")
        verbose_name_plural = _("login sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="accounts_login_user_recent")]

    def __str__(self):
        return f"{self.user} @ {self.ip or '?'} ({self.get_kind_display()})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
