SHOP_SETTINGS_TEMPLATE = "shop_settings"
SHOP_SETTINGS_KEY = "default"
DEFAULT_CONFIG_KEY = "default"
# What a secret looks like wherever it is shown: history, API, admin, exports.
SECRET_PLACEHOLDER = "…****"  # noqa: S105 - a mask, not a secret
