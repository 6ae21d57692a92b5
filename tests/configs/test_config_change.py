"""config_change: the one edit of a config the admin and the API share; config_create's owner rule."""

import pytest

from configs import selectors, services
from configs.exceptions import ConfigConflict, ConfigPermissionDenied, ConfigValidationError
from configs.models import ConfigHistory, UserConfig

from .conftest import SECRET

pytestmark = pytest.mark.django_db


def history(config) -> list[tuple[int, str]]:
    return list(ConfigHistory.objects.filter(config_ref=config.pk).order_by("version").values_list(
        "version", "action"))


def test_a_change_writes_the_switch_off_first_then_the_fields(config, owner):
    services.config_change(config=config, actor=owner, expected_version=1, is_active=False,
                           display_name="paused", reason="holiday")
    config.refresh_from_db()
    assert (config.version, config.is_active, config.display_name) == (3, False, "paused")
    assert history(config) == [(1, "create"), (2, "deactivate"), (3, "update")]


def test_the_fields_given_with_what_they_hold_are_no_change(config, owner):
    masked = selectors.config_masked_values(config=config)
    same = services.config_change(config=config, actor=owner, values=masked, display_name="", scope="global",
                                  expires_at=None, is_active=True)
    assert same.version == 1 and history(config) == [(1, "create")]


def test_a_stale_version_is_refused_only_when_something_would_be_written(config, owner):
    services.config_update(config=config, actor=owner, values={"model": "v2", "api_key": SECRET})
    assert services.config_change(config=config, actor=owner, expected_version=1, is_active=True).version == 2
    with pytest.raises(ConfigConflict):
        services.config_change(config=config, actor=owner, expected_version=1, values={"model": "v3"})
    with pytest.raises(ConfigConflict):
        services.config_change(config=config, actor=owner, expected_version=1, is_active=False)
    config.refresh_from_db()
    assert (config.version, config.is_active, config.values["model"]) == (2, True, "v2")


def test_a_refused_step_undoes_the_steps_before_it(config, owner):
    with pytest.raises(ConfigValidationError):
        services.config_change(config=config, actor=owner, is_active=False, values={"temperature": 99})
    config.refresh_from_db()
    assert config.is_active and config.version == 1 and history(config) == [(1, "create")]


def test_only_someone_who_manages_the_config_may_change_it(world, template):
    shop_config = services.config_create(actor=world.shop_admin, template=template, shop=world.shop,
                                         values={"model": "m"})
    own = services.config_create(actor=world.agent, template=template, user=world.agent, values={"model": "m"})
    for actor, config in ((world.agent, shop_config), (world.outsider, shop_config), (world.shop_admin, own),
                          (None, own)):
        with pytest.raises(ConfigPermissionDenied):
            services.config_change(config=config, actor=actor, display_name="mine")
    services.config_change(config=shop_config, actor=world.shop_admin, display_name="tuned")
    services.config_change(config=own, actor=world.agent, display_name="tuned")
    services.config_change(config=own, actor=world.superadmin, display_name="checked")
    assert set(UserConfig.objects.values_list("display_name", flat=True)) == {"tuned", "checked"}


@pytest.mark.parametrize(("actor", "owner", "allowed"), [
    ("shop_admin", "shop", True),
    ("agent", "shop", False),
    ("outsider", "shop", False),
    ("agent", "agent", True),
    ("agent", "shop_admin", False),
    ("superadmin", "agent", True),
    ("superadmin", "shop", True),
    (None, "shop", True),  # the system: a command or a job
])
def test_who_may_give_a_new_config_to_whom(world, template, actor, owner, allowed):
    person = getattr(world, actor) if actor else None
    target = {"shop": world.shop} if owner == "shop" else {"user": getattr(world, owner)}
    if allowed:
        assert services.config_create(actor=person, template=template, values={"model": "m"}, **target).version == 1
    else:
        with pytest.raises(ConfigPermissionDenied):
            services.config_create(actor=person, template=template, values={"model": "m"}, **target)
        assert not UserConfig.objects.exists()


def test_a_new_config_has_exactly_one_owner(world, template):
    for owners in ({}, {"user": world.superadmin, "shop": world.shop}):
        with pytest.raises(ConfigValidationError):
            services.config_create(actor=world.superadmin, template=template, values={"model": "m"}, **owners)


@pytest.mark.parametrize("write", ["set_active", "update", "rollback", "delete"])
def test_every_write_of_a_config_checks_the_person_and_lets_the_system_through(world, template, write):
    config = services.config_create(actor=world.shop_admin, template=template, shop=world.shop,
                                    values={"model": "m"})
    services.config_update(config=config, actor=world.shop_admin, values={"model": "n"})
    calls = {
        "set_active": lambda actor: services.config_set_active(config=config, actor=actor, active=False),
        "update": lambda actor: services.config_update(config=config, actor=actor, values={"model": "o"}),
        "rollback": lambda actor: services.config_rollback(config=config, actor=actor, version=1),
        "delete": lambda actor: services.config_delete(config=config, actor=actor),
    }
    for person in (world.agent, world.outsider):
        with pytest.raises(ConfigPermissionDenied):
            calls[write](person)
    assert UserConfig.objects.get(pk=config.pk).version == 2
    calls[write](None)
    assert not UserConfig.objects.filter(pk=config.pk, version=2).exists()
