"""Writes of a shop's settings: a user config of the shop settings template, merged key by key."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from customer_service.shops.selectors import shop_is_manageable

from .. import schema as schema_utils
from ..constants import SHOP_SETTINGS_KEY, SHOP_SETTINGS_TEMPLATE
from ..exceptions import ConfigConflict, ConfigNotFound, ConfigPermissionDenied, ConfigValidationError
from ..models import ConfigTemplate, UserConfig
from .user_configs import config_create, config_update


def _shop_settings_template() -> ConfigTemplate:
    template = ConfigTemplate.objects.filter(code=SHOP_SETTINGS_TEMPLATE).first()
    if template is None:
        raise ConfigNotFound(_("The shop settings template is missing; run the configs migrations."))
    return template


@transaction.atomic
def shop_settings_update(
    *,
    shop,
    actor,
    values: dict,
    reason: str = "",
    expected_version: int | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> UserConfig:
    """Change ``shop``'s settings: ``values`` are merged key by key onto the current ones.

    Nested objects merge too (``{"ocr_region": {"x": 5}}`` keeps y, w and h);
    lists and other values replace.

    Only a superadmin or an admin of ``shop`` may (ConfigPermissionDenied).
    The first change creates the shop's config (``expected_version`` None or 0).
    """
    if not shop_is_manageable(user=actor, shop=shop):
        raise ConfigPermissionDenied(_("Only an admin of %(shop)s may change its settings.") % {"shop": shop})
    if not isinstance(values, dict):
        raise ConfigValidationError(_("Shop settings must be a JSON object."))
    template = _shop_settings_template()
    config = (
        UserConfig.objects.select_for_update().select_related("template")
        .filter(shop=shop, template=template, key=SHOP_SETTINGS_KEY).first()
    )
    if config is None:
        if expected_version not in (None, 0):
            raise ConfigConflict(_("These shop settings were deleted or never saved; reload them."))
        return config_create(actor=actor, template=template, values=values, shop=shop, key=SHOP_SETTINGS_KEY,
                             display_name=str(shop), reason=reason, ip=ip, user_agent=user_agent)
    merged = schema_utils.deep_merge(config.values, values)
    return config_update(config=config, actor=actor, values=merged, expected_version=expected_version,
                         reason=reason, ip=ip, user_agent=user_agent)
