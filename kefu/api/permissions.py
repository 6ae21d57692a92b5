from rest_framework import permissions


class ScopedObjectPermission(permissions.IsAuthenticated):
    """Reads need the row in ``for_user``; writes need it in ``manageable_by``.

    Creation is decided by the view's ``can_create(request)``.
    """

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if request.method == "POST" and getattr(view, "action", None) == "create":
            return view.can_create(request)
        return True

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True  # the queryset is already scoped to what the user may see
        manageable = view.get_manageable_queryset()
        return manageable.filter(pk=obj.pk).exists()


class IsSuperadmin(permissions.IsAuthenticated):
    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.is_superadmin
