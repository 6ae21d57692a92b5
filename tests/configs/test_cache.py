"""A write in one process is seen by a read in another right after commit (the shared cache is invalidated)."""

import json
import subprocess
import sys
import uuid

import pytest
from django.core.cache import cache

from configs import cache as config_cache
from configs import selectors, services
from configs.models import UserConfig
from tests.conftest import PROJECT_DIR, process_environment

READER = """
import json, os, sys
import django
import kefu.settings.test as test_settings
if os.environ.get("KEFU_TEST_CACHE_REDIS"):
    test_settings.CACHES = {"default": {"BACKEND": "kefu.cache.RedisCache",
                                        "LOCATION": os.environ["KEFU_TEST_CACHE_REDIS"]}}
django.setup()
from configs.selectors import config_values_get
from accounts.models import User
user = User.objects.get(pk=int(sys.argv[1]))
print(json.dumps(config_values_get(template_code=sys.argv[2], user=user)))
"""


def read_in_another_process(settings, user, template_code) -> dict:
    location = settings.CACHES["default"]["LOCATION"]
    env = process_environment(
        settings, KEFU_TEST_CACHE_REDIS=location if str(location).startswith("redis://") else "")
    done = subprocess.run([sys.executable, "-c", READER, str(user.pk), template_code], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(params=["file", "redis"])
def shared_cache(request, settings):
    """The two shared caches kefu runs on: the file cache (no server) and Redis (REDIS_URL)."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        settings.CACHES = {"default": {"BACKEND": "kefu.cache.RedisCache",
                                       "LOCATION": server.url}}
    cache.clear()
    return request.param


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_write_here_is_read_by_another_process_right_after_commit(settings, shared_cache, template, owner):
    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})
    assert read_in_another_process(settings, owner, template.code)["model"] == "v1"
    # The other process filled the shared cache: this process sees its entry.
    assert config_cache.peek(config_cache.config_key(config))["version"] == 1

    services.config_update(config=config, actor=owner, values={"model": "v2"})
    assert read_in_another_process(settings, owner, template.code)["model"] == "v2"

    services.config_rollback(config=config, version=1, actor=owner)
    assert read_in_another_process(settings, owner, template.code)["model"] == "v1"

    # Control: a change that bypasses the services is NOT seen, which proves the
    # reads above came through the cache and the services' invalidation is what made them fresh.
    UserConfig.objects.filter(pk=config.pk).update(values={**config.values, "model": "sneaky"})
    assert read_in_another_process(settings, owner, template.code)["model"] == "v1"


@pytest.mark.django_db(transaction=True)
def test_reads_are_served_from_the_cache(template, owner, django_assert_num_queries):
    services.config_create(actor=owner, template=template, user=owner, values={"model": "m"})
    selectors.config_values_get(template_code=template.code, user=owner)
    with django_assert_num_queries(0):
        assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "m"


@pytest.mark.django_db(transaction=True)
def test_a_config_never_saved_is_looked_up_once_and_its_creation_is_seen_at_once(
    template, owner, django_assert_num_queries
):
    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "deepseek-chat"
    with django_assert_num_queries(0):  # the template's defaults, and that there is no config to read
        assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "deepseek-chat"
    services.config_create(actor=owner, template=template, user=owner, values={"model": "m"})
    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "m"


class _SharedCacheReads:
    """The keys this process asks the shared cache for."""

    def __init__(self, monkeypatch):
        self.keys = []
        original = cache.get

        def get(key, *args, **kwargs):
            self.keys.append(key)
            return original(key, *args, **kwargs)

        monkeypatch.setattr(cache, "get", get)

    def entries(self):
        return [key for key in self.keys if not key.endswith(":gen")]


@pytest.mark.django_db(transaction=True)
def test_a_process_fetches_an_entry_once_per_generation_and_asks_for_the_generation_every_time(
    template, owner, monkeypatch
):
    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})
    selectors.config_values_get(template_code=template.code, user=owner)
    reads = _SharedCacheReads(monkeypatch)
    for _ in range(3):
        assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "v1"
    assert reads.entries() == [] and len(reads.keys) == 3
    _change_behind_the_cache(config, "elsewhere")  # another process's write: a new generation
    reads.keys.clear()
    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "elsewhere"
    assert len(reads.entries()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_kept_entry_is_fetched_again_once_its_time_ran_out(settings, template, owner, monkeypatch):
    services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})
    settings.KEFU_CONFIG_CACHE_SECONDS = 0
    reads = _SharedCacheReads(monkeypatch)
    for _ in range(2):
        assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "v1"
    assert len(reads.entries()) == 2


@pytest.mark.django_db(transaction=True)
def test_a_caller_changing_what_it_read_changes_no_other_read(template, owner):
    never_saved = selectors.config_values_get(template_code=template.code, user=owner)
    never_saved["model"] = "changed by a caller"
    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "deepseek-chat"
    services.config_create(actor=owner, template=template, user=owner, values={"model": "m"})
    saved = selectors.config_values_get(template_code=template.code, user=owner)
    saved["model"] = "changed by a caller"
    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "m"


@pytest.mark.django_db(transaction=True)
def test_nothing_in_the_cache_is_a_clear_secret(config, owner):
    from .conftest import SECRET

    selectors.config_values_get(template_code=config.template.code, user=owner)
    entry = config_cache.peek(config_cache.config_key(config))
    assert entry is not None and SECRET not in json.dumps(entry)


@pytest.mark.django_db
def test_a_read_inside_a_transaction_is_not_cached(config, owner):
    # It could see rows that are rolled back later; the test itself runs inside a transaction.
    selectors.config_values_get(template_code=config.template.code, user=owner)
    assert config_cache.peek(config_cache.config_key(config)) is None


@pytest.mark.django_db(transaction=True)
def test_a_stale_value_stored_late_by_a_slow_reader_is_never_served(template, owner):
    """The race one bump loses: a reader takes the generation after the write's first bump but before its
    commit, loads the row as committed (v1: the write is not visible yet), and stores it after the commit."""
    from django.db import transaction

    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})
    key = config_cache.config_key(config)
    stale = {"id": config.pk, "version": 1, "values": dict(config.values), "encrypted_paths": [],
             "is_active": True, "expires_at": None}
    with transaction.atomic():
        services.config_update(config=config, actor=owner, values={"model": "v2"})
        slow_reader_key = config_cache._data_key(key)  # after the first bump, before the commit
    cache.set(slow_reader_key, stale)  # …and stores what it loaded after the commit
    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "v2"


# Each write below must invalidate what readers have cached: the reads run outside any transaction, so they
# are cached (see test_a_read_inside_a_transaction_is_not_cached), and a write that forgot to invalidate
# would leave the previous value in place.


@pytest.mark.django_db(transaction=True)
def test_every_config_write_is_seen_by_a_reader_that_cached_the_previous_value(template, owner):
    def read():
        return selectors.config_values_get(template_code=template.code, user=owner)["model"]

    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})
    assert read() == "v1"
    assert config_cache.peek(config_cache.config_key(config)) is not None
    services.config_update(config=config, actor=owner, values={"model": "v2"})
    assert read() == "v2"
    services.config_rollback(config=config, version=1, actor=owner)
    assert read() == "v1"
    services.config_set_active(config=config, actor=owner, active=False)
    assert read() == "deepseek-chat"  # the template's defaults
    services.config_set_active(config=config, actor=owner, active=True)
    assert read() == "v1"
    services.config_delete(config=config, actor=owner)
    assert read() == "deepseek-chat"


@pytest.mark.django_db(transaction=True)
def test_shop_settings_changes_are_seen_by_a_reader_that_cached_them(world, shop_settings_template):
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_mode": True})
    assert selectors.shop_settings_get(shop=world.shop)["auto_mode"] is True
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_mode": False,
                                                                                 "reply_delay_seconds": 9})
    settings = selectors.shop_settings_get(shop=world.shop)
    assert settings["auto_mode"] is False and settings["reply_delay_seconds"] == 9


@pytest.mark.django_db(transaction=True)
def test_every_system_config_write_is_seen_by_a_reader_that_cached_the_previous_value(world):
    def read():
        return selectors.system_config_value("pipeline.batch_size", default=None)

    assert read() is None  # "missing" is cached too
    config = services.system_config_create(actor=world.superadmin, key="pipeline.batch_size", value_type="int",
                                           value=3)
    assert read() == 3
    services.system_config_update(config=config, actor=world.superadmin, value=8)
    assert read() == 8
    services.system_config_rollback(config=config, version=1, actor=world.superadmin)
    assert read() == 3
    services.system_config_delete(config=config, actor=world.superadmin)
    assert read() is None


@pytest.mark.django_db(transaction=True)
def test_after_a_template_is_renamed_its_old_code_serves_nothing(template, owner):
    from configs.exceptions import ConfigNotFound

    services.config_create(actor=owner, template=template, user=owner, values={"model": "m"})
    old = template.code
    assert selectors.config_values_get(template_code=old, user=owner)["model"] == "m"  # cached under the old code
    assert selectors.config_values_get(template_code=old, user=None, key="none")["model"] == "deepseek-chat"
    services.template_update(template=template, actor=owner, code="renamed")
    with pytest.raises(ConfigNotFound):
        selectors.config_values_get(template_code=old, user=owner)
    with pytest.raises(ConfigNotFound):
        selectors.config_values_get(template_code=old, user=None, key="none")
    assert selectors.config_values_get(template_code="renamed", user=owner)["model"] == "m"


@pytest.mark.django_db(transaction=True)
def test_a_deleted_templates_cached_defaults_are_not_served(template, owner):
    from configs.exceptions import ConfigNotFound

    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "deepseek-chat"
    services.template_delete(template=template, actor=owner)
    with pytest.raises(ConfigNotFound):
        selectors.config_values_get(template_code=template.code, user=owner)


@pytest.mark.django_db(transaction=True)
def test_after_a_key_rotation_cached_secrets_are_read_under_the_new_key(settings, world, config, owner):
    """Cached entries hold ciphertext: once the old key is gone, only a fresh read decrypts."""
    from io import StringIO

    from django.core.management import call_command

    from .conftest import PROXY_SECRET, SECRET

    services.system_config_create(actor=world.superadmin, key="smtp.password", value_type="string",
                                  value=PROXY_SECRET, is_encrypted=True)
    assert selectors.config_values_get(template_code=config.template.code, user=owner)["api_key"] == SECRET
    assert selectors.system_config_value("smtp.password") == PROXY_SECRET
    new_key = "k7:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    settings.KEFU_ENCRYPTION_KEYS = f"{new_key},{settings.KEFU_ENCRYPTION_KEYS}"
    call_command("config_rotate_secrets", stdout=StringIO())
    settings.KEFU_ENCRYPTION_KEYS = new_key  # the old key is gone
    assert selectors.config_values_get(template_code=config.template.code, user=owner)["api_key"] == SECRET
    assert selectors.system_config_value("smtp.password") == PROXY_SECRET


@pytest.mark.django_db(transaction=True)
def test_secrets_found_in_clear_leave_the_cache_once_encrypted(owner):
    from io import StringIO

    from django.core.management import call_command

    from .conftest import SECRET

    plain = {"type": "object", "properties": {"api_key": {"type": "string"}}}
    template = services.template_create(actor=owner, code="late", name="late", schema=plain)
    config = services.config_create(actor=owner, template=template, user=owner, values={"api_key": SECRET})
    services.template_update(template=template, actor=owner, schema={"type": "object", "properties": {
        "api_key": {"type": "string", "writeOnly": True}}})
    # As written before template changes encrypted existing values:
    UserConfig.objects.filter(pk=config.pk).update(values={"api_key": SECRET}, encrypted_paths=[])
    cache.clear()
    assert selectors.config_values_get(template_code=template.code, user=owner)["api_key"] == SECRET
    call_command("config_rotate_secrets", stdout=StringIO())
    assert selectors.config_values_get(template_code=template.code, user=owner)["api_key"] == SECRET
    assert SECRET not in json.dumps(config_cache.peek(config_cache.config_key(config)))


# A unit of work (every Celery task runs in one) fetches each config from the shared cache once: the shared
# cache is changed behind its back below, and the unit keeps the reading it started with.


def _change_behind_the_cache(config, model: str) -> None:
    """What another process's write leaves in the shared cache: a new generation, holding the new value."""
    key = config_cache.config_key(config)
    entry = config_cache.peek(key)
    cache.set(config_cache._gen_key(key), uuid.uuid4().hex, timeout=None)
    cache.set(config_cache._data_key(key), {**entry, "values": {**entry["values"], "model": model}})


@pytest.mark.django_db(transaction=True)
def test_a_unit_of_work_reads_each_config_from_the_shared_cache_once(template, owner):
    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})

    def read():
        return selectors.config_values_get(template_code=template.code, user=owner)["model"]

    with config_cache.unit_of_work():
        assert read() == "v1"
        _change_behind_the_cache(config, "elsewhere")
        assert read() == "v1"
        with config_cache.unit_of_work():  # a nested unit starts empty
            assert read() == "elsewhere"
        assert read() == "v1"
    assert read() == "elsewhere"  # outside any unit every read asks the shared cache


@pytest.mark.django_db(transaction=True)
def test_a_write_inside_a_unit_of_work_is_read_back_by_it(template, owner):
    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})

    def read():
        return selectors.config_values_get(template_code=template.code, user=owner)["model"]

    with config_cache.unit_of_work():
        assert read() == "v1"
        services.config_update(config=config, actor=owner, values={"model": "v2"})
        assert read() == "v2"


@pytest.mark.django_db(transaction=True)
def test_a_unit_of_work_keeps_nothing_it_loaded_inside_a_transaction(template, owner):
    from django.db import transaction

    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})
    with config_cache.unit_of_work():
        with transaction.atomic():
            services.config_update(config=config, actor=owner, values={"model": "rolled back"})
            assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "rolled back"
            transaction.set_rollback(True)
        assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "v1"


@pytest.mark.django_db(transaction=True)
def test_every_celery_task_runs_in_its_own_unit_of_work(template, owner):
    from celery import shared_task

    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})

    @shared_task(name="tests.configs.read_twice")
    def read_twice():
        first = selectors.config_values_get(template_code=template.code, user=owner)["model"]
        _change_behind_the_cache(config, "elsewhere")
        return first, selectors.config_values_get(template_code=template.code, user=owner)["model"]

    assert tuple(read_twice.apply().get()) == ("v1", "v1")
    # The unit ended with the task: the next read, and the next task, ask the shared cache again.
    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "elsewhere"
    assert tuple(read_twice.apply().get()) == ("elsewhere", "elsewhere")
