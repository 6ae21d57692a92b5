import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from kefu import crypto
from kefu.fields import UndecryptableValue
from tests.testapp.models import VaultEntry

NEW_KEY = f"k2:{base64.b64encode(os.urandom(32)).decode()}"


def write_raw(pk, column, value):
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE testapp_vaultentry SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


def raw_column(pk, column="secret"):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM testapp_vaultentry WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_column_never_holds_the_plaintext():
    entry = VaultEntry.objects.create(name="openai", secret="sk-live-abcdef123456", payload={"token": "t0p-s3cret"})
    stored = raw_column(entry.pk)
    assert "sk-live" not in stored and stored.startswith("enc1:k1:")
    assert "t0p-s3cret" not in raw_column(entry.pk, "payload")
    fresh = VaultEntry.objects.get(pk=entry.pk)
    assert fresh.secret == "sk-live-abcdef123456"
    assert fresh.payload == {"token": "t0p-s3cret"}


@pytest.mark.django_db
def test_two_encryptions_of_one_value_differ_and_blank_stays_blank():
    a = VaultEntry.objects.create(name="a", secret="same")
    b = VaultEntry.objects.create(name="b", secret="same")
    empty = VaultEntry.objects.create(name="c", secret="")
    assert raw_column(a.pk) != raw_column(b.pk)
    assert raw_column(empty.pk) == ""
    assert VaultEntry.objects.get(pk=empty.pk).secret == ""


@pytest.mark.django_db
def test_a_tampered_value_names_the_row_instead_of_returning_garbage():
    entry = VaultEntry.objects.create(name="x", secret="sk-1234567890")
    stored = raw_column(entry.pk)
    blob = bytearray(base64.b64decode(stored.split(":", 2)[2]))
    blob[-1] ^= 0x01
    tampered = "enc1:k1:" + base64.b64encode(bytes(blob)).decode()
    write_raw(entry.pk, "secret", tampered)
    loaded = VaultEntry.objects.get(pk=entry.pk)
    with pytest.raises(UndecryptableValue, match=rf"testapp.VaultEntry #{entry.pk}, field 'secret'.*altered"):
        _ = loaded.secret


@pytest.mark.django_db
def test_a_ciphertext_moved_to_another_column_is_refused():
    entry = VaultEntry.objects.create(name="x", secret="sk-1234567890", payload={"a": 1})
    write_raw(entry.pk, "payload", raw_column(entry.pk))
    with pytest.raises(UndecryptableValue):
        _ = VaultEntry.objects.get(pk=entry.pk).payload


@pytest.mark.django_db
def test_a_value_that_looks_like_ciphertext_is_still_encrypted():
    entry = VaultEntry.objects.create(name="x", secret="enc1:k1:looks-encrypted")
    assert VaultEntry.objects.get(pk=entry.pk).secret == "enc1:k1:looks-encrypted"
    assert raw_column(entry.pk) != "enc1:k1:looks-encrypted"


@pytest.mark.django_db
def test_an_unknown_key_id_is_reported_clearly(settings):
    entry = VaultEntry.objects.create(name="x", secret="sk-1234567890")
    settings.KEFU_ENCRYPTION_KEYS = NEW_KEY
    with pytest.raises(UndecryptableValue, match="key 'k1'"):
        _ = VaultEntry.objects.get(pk=entry.pk).secret


@pytest.mark.django_db
def test_rotation_re_encrypts_every_row_and_old_keys_can_then_go(settings):
    entries = [VaultEntry.objects.create(name=str(i), secret=f"sk-{i:04d}-secret", payload={"n": i}) for i in range(7)]
    settings.KEFU_ENCRYPTION_KEYS = f"{NEW_KEY},{settings.KEFU_ENCRYPTION_KEYS}"
    call_command("rotate_encryption_key", "--batch-size", "3", "--no-progress")
    for entry in entries:
        assert raw_column(entry.pk).startswith("enc1:k2:")
        assert raw_column(entry.pk, "payload").startswith("enc1:k2:")
    settings.KEFU_ENCRYPTION_KEYS = NEW_KEY
    for entry in entries:
        fresh = VaultEntry.objects.get(pk=entry.pk)
        assert fresh.secret == entry.secret and fresh.payload == entry.payload


@pytest.mark.django_db
def test_rotation_resumes_and_reports_rows_it_cannot_read(settings):
    good = VaultEntry.objects.create(name="good", secret="sk-good-value")
    bad = VaultEntry.objects.create(name="bad", secret="sk-bad-value")
    write_raw(bad.pk, "secret", "enc1:k1:AAAA" + "B" * 40)
    settings.KEFU_ENCRYPTION_KEYS = f"{NEW_KEY},{settings.KEFU_ENCRYPTION_KEYS}"
    with pytest.raises(CommandError, match="1 value"):
        call_command("rotate_encryption_key", "--no-progress")
    assert raw_column(good.pk).startswith("enc1:k2:")
    rewritten = raw_column(good.pk)
    with pytest.raises(CommandError):
        call_command("rotate_encryption_key", "--no-progress")
    assert raw_column(good.pk) == rewritten  # already under k2: not touched again


@pytest.mark.parametrize(
    "raw, message",
    [
        ("", "empty"),
        ("nokey", "id:base64key"),
        ("k1:not-base64!!", "base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"k1:{base64.b64encode(b'0' * 32).decode()},k1:{base64.b64encode(b'1' * 32).decode()}", "twice"),
    ],
)
def test_bad_key_settings_are_refused_with_a_reason(raw, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        crypto.parse_keys(raw)


def test_masking_shows_only_enough_to_recognise_a_key():
    assert crypto.mask_secret("sk-abcdefghijklmnop1a2b") == "sk-…1a2b"
    assert "abcdefgh" not in crypto.mask_secret("sk-abcdefghijklmnop1a2b")
    assert crypto.mask_secret("") == ""


@pytest.mark.django_db
def test_a_deferred_encrypted_value_is_loaded_on_access():
    VaultEntry.objects.create(name="deferred", secret="s3cret-value")
    assert VaultEntry.objects.only("name").get(name="deferred").secret == "s3cret-value"


@pytest.mark.django_db
def test_searching_an_encrypted_column_is_refused_not_answered_wrongly():
    from django.core.exceptions import FieldError

    VaultEntry.objects.create(name="a", secret="s3cret-value")
    with pytest.raises(FieldError, match="encrypted"):
        list(VaultEntry.objects.filter(secret="s3cret-value"))
    with pytest.raises(FieldError):
        list(VaultEntry.objects.filter(secret__icontains="s3cret"))
    assert VaultEntry.objects.exclude(secret="").count() == 1


def test_short_secrets_are_masked_whole():
    assert crypto.mask_secret("hunter2024") == "…****"


@pytest.mark.django_db
def test_diagnose_finds_a_key_replaced_under_the_same_id(settings):
    from kefu.management.commands.diagnose import check_encryption

    VaultEntry.objects.create(name="a", secret="s3cret-value")
    assert check_encryption().ok
    key_id = crypto.keyring().current_id
    settings.KEFU_ENCRYPTION_KEYS = crypto.generate_key_entry(key_id)
    result = check_encryption()
    assert not result.ok and "replaced" in result.detail and "testapp.VaultEntry.secret" in result.detail
