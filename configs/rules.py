"""Rules across fields that JSON Schema cannot say, per template code.

Each rule takes the filled document and returns ``[{path, message}]``.
"""

from collections.abc import Callable

from django.utils.translation import gettext as _

from .constants import SHOP_SETTINGS_TEMPLATE

Rule = Callable[[dict], list[dict]]


def _shop_settings_thresholds(values: dict) -> list[dict]:
    draft, auto = values.get("draft_threshold"), values.get("auto_send_threshold")
    if isinstance(draft, int | float) and isinstance(auto, int | float) and draft > auto:
        return [{
            "path": "draft_threshold",
            "message": _("The draft threshold (%(draft)s) must not exceed the auto-send threshold (%(auto)s).")
            % {"draft": draft, "auto": auto},
        }]
    return []


def _shop_settings_lists(values: dict) -> list[dict]:
    errors = []
    for kind in ("buyer", "keyword"):
        both = set(values.get(f"{kind}_blacklist") or []) & set(values.get(f"{kind}_whitelist") or [])
        if both:
            errors.append({
                "path": f"{kind}_whitelist",
                "message": _("On both the blacklist and the whitelist: %(items)s") % {"items": ", ".join(sorted(both))},
            })
    return errors


RULES: dict[str, list[Rule]] = {
    SHOP_SETTINGS_TEMPLATE: [_shop_settings_thresholds, _shop_settings_lists],
}


def check_rules(template_code: str, values: dict) -> list[dict]:
    errors: list[dict] = []
    for rule in RULES.get(template_code, []):
        errors.extend(rule(values))
    return errors
