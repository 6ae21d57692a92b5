import pytest
from django.urls import reverse

from tests.testapp.models import Note


@pytest.mark.django_db
def test_the_default_manager_hides_soft_deleted_rows_and_restore_brings_them_back(world):
    note = Note(text="keep me")
    note.stamp(world.superadmin)
    note.save()
    note.soft_delete()
    assert not Note.objects.filter(pk=note.pk).exists()
    assert Note.all_objects.get(pk=note.pk).is_deleted
    Note.all_objects.get(pk=note.pk).restore()
    restored = Note.objects.get(pk=note.pk)
    assert restored.created_by == world.superadmin and restored.updated_by == world.superadmin


@pytest.mark.django_db
def test_the_admin_deletes_softly_lists_deleted_rows_and_restores(world, client):
    note = Note.objects.create(text="soft")
    client.force_login(world.superadmin)
    changelist = reverse("admin:testapp_note_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [note.pk], "post": "yes"})
    assert Note.all_objects.get(pk=note.pk).is_deleted
    assert "soft" not in client.get(changelist).content.decode()
    assert "soft" in client.get(changelist + "?deleted=yes").content.decode()
    client.post(changelist + "?deleted=yes", {"action": "restore_selected", "_selected_action": [note.pk]})
    assert Note.objects.filter(pk=note.pk).exists()


@pytest.mark.django_db
def test_purge_asks_for_confirmation_before_deleting_for_good(world, client):
    note = Note.objects.create(text="purge me")
    client.force_login(world.superadmin)
    changelist = reverse("admin:testapp_note_changelist")
    confirm = client.post(changelist, {"action": "purge_selected", "_selected_action": [note.pk]})
    assert confirm.status_code == 200 and "confirm_purge" in confirm.content.decode()
    assert Note.all_objects.filter(pk=note.pk).exists()
    client.post(changelist, {"action": "purge_selected", "_selected_action": [note.pk], "confirm_purge": "yes"})
    assert not Note.all_objects.filter(pk=note.pk).exists()
