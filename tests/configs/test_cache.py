"""A write in one process is seen by a read in another right after commit (the shared cache is invalidated)."""

import json
import os
import subprocess
import sys

import pytest
from django.core.cache import cache

from configs import cache as config_cache
from configs import selectors, services
from configs.models import UserConfig
from tests.conftest import PROJECT_DIR, _database_url_for_worker

READER = """
import json, os, sys
import django
import kefu.settings.test as test_settings
if os.environ.get("KEFU_TEST_CACHE_REDIS"):
    test_settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                        "LOCATION": os.environ["KEFU_TEST_CACHE_REDIS"]}}
django.setup()
from configs.selectors import config_values_get
from accounts.models import User
user = User.objects.get(pk=int(sys.argv[1]))
print(json.dumps(config_values_get(template_code=sys.argv[2], user=user)))
"""


def read_in_another_process(settings, user, template_code) -> dict:
    location = settings.CACHES["default"]["LOCATION"]
    env = {
        **os.environ,
        "KEFU_TEST_CACHE_REDIS": location if str(location).startswith("redis://") else "",
        "DJANGO_SETTINGS_MODULE": "kefu.settings.test",
        "KEFU_WORKER_DATABASE_URL": _database_url_for_worker(settings),
        "KEFU_TEST_RUNTIME_DIR": str(settings.TEST_RUNTIME_DIR),
    }
    done = subprocess.run([sys.executable, "-c", READER, str(user.pk), template_code], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(params=["file", "redis"])
def shared_cache(request, settings):
    """The two shared caches kefu runs on: the file cache (no server) and Redis (REDIS_URL)."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
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
    """The race a delete-on-commit loses: a reader loads v1, the write commits v2, the reader then stores v1."""
    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "v1"})
    key = config_cache.config_key(config)
    slow_reader_key = config_cache._data_key(key)  # the reader took its generation before the write
    stale = {"id": config.pk, "version": 1, "values": dict(config.values), "encrypted_paths": [],
             "is_active": True}
    services.config_update(config=config, actor=owner, values={"model": "v2"})
    cache.set(slow_reader_key, stale)  # …and stores what it loaded after the commit
    assert selectors.config_values_get(template_code=template.code, user=owner)["model"] == "v2"


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
