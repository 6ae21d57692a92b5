"""Base viewsets that apply shop scoping once, from the model's QuerySet."""

from rest_framework import viewsets

from kefu.models import SoftDeleteModel

from .permissions import ScopedObjectPermission


class ScopedModelViewSet(viewsets.ModelViewSet):
    """CRUD over ``model.objects.for_user(user)``; writes limited to ``manageable_by(user)``.

    A row outside the user's scope answers 404, never 403, so its existence is not revealed.
    """

    permission_classes = [ScopedObjectPermission]

    def get_queryset(self):
        return super().get_queryset().for_user(self.request.user)

    def get_manageable_queryset(self):
        return self.queryset.model._default_manager.all().manageable_by(self.request.user)

    def can_create(self, request) -> bool:
        return bool(request.user.is_superadmin)

    def perform_destroy(self, instance):
        if isinstance(instance, SoftDeleteModel):
            instance.soft_delete()
        else:
            instance.delete()


class ScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [ScopedObjectPermission]

    def get_queryset(self):
        return super().get_queryset().for_user(self.request.user)
