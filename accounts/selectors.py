"""Reads about people."""

from .models import User


def user_is_last_superadmin(*, user: User) -> bool:
    """Whether ``user`` is, as stored, the only active superadmin (forms ask before a service refuses)."""
    active = list(User.objects.filter(is_superadmin=True, is_active=True).values_list("pk", flat=True)[:2])
    return active == [user.pk]
