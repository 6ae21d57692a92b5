from django.contrib import admin

from kefu.admin import ScopedModelAdmin, SoftDeleteAdminMixin

from .models import Note


@admin.register(Note)
class NoteAdmin(SoftDeleteAdminMixin, ScopedModelAdmin):
    list_display = ["text", "deleted_at"]
