"""Reads about people."""

from .models import User


def active_superadmin_ids(*, lock: bool = False) -> list[int]:
    """Ids of the active superadmins; ``lock``: locked for the caller's transaction (PostgreSQL)."""
    rows = User.objects.filter(is_superadmin=True, is_active=True)
    return list((rows.select_for_update() if lock else rows).values_list("pk", flat=True))


def user_is_last_superadmin(*, user: User) -> bool:
    """Whether ``user`` is, as stored, the only active superadmin (forms ask before a service refuses)."""
    return active_superadmin_ids() == [user.pk]
