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


# Windows places every monitor of the virtual screen within ±32768 pixels: a region beyond that
# cannot be captured, and a huge number would only fail later, on the desktop worker.
SCREEN_LIMIT = 32768


def _shop_settings_ocr_region(values: dict) -> list[dict]:
    region = values.get("ocr_region") or {}
    errors = []
    for start, size in (("x", "w"), ("y", "h")):
        a, b = region.get(start), region.get(size)
        if isinstance(a, int) and isinstance(b, int) and a + b > SCREEN_LIMIT:
            errors.append({
                "path": f"ocr_region.{size}",
                "message": _("The OCR region ends at %(end)s pixels, off any screen (at most %(limit)s).")
                % {"end": a + b, "limit": SCREEN_LIMIT},
            })
    return errors


def _shop_settings_business_hours(values: dict) -> list[dict]:
    """The end may be before the start (open across midnight, e.g. 20:00–02:00) but not equal to it.

    24:00 is the only hour-24 time: it means until midnight.
    """
    hours = values.get("business_hours") or {}
    start, end = hours.get("start"), hours.get("end")
    if not (isinstance(start, str) and isinstance(end, str)):
        return []
    if end.startswith("24:") and end != "24:00":
        return [{"path": "business_hours.end", "message": _("%(end)s is not a time: after 23:59 comes 24:00.")
                 % {"end": end}}]
    if hours.get("enabled") and start == end:
        return [{"path": "business_hours.end",
                 "message": _("The business hours start and end at %(t)s: they would be empty.") % {"t": start}}]
    return []


def _shop_settings_bursts(values: dict) -> list[dict]:
    """The quiet window only grows: base ≤ after a fragment ≤ the longest wait."""
    bursts = values.get("bursts") or {}
    base, fragment, longest = (bursts.get(k) for k in ("base_window_ms", "fragment_window_ms", "max_wait_ms"))
    if not all(isinstance(v, int) for v in (base, fragment, longest)):
        return []
    if base > fragment:
        return [{"path": "bursts.fragment_window_ms",
                 "message": _("The window after a fragment (%(fragment)s ms) must not be shorter than the base "
                              "window (%(base)s ms).") % {"fragment": fragment, "base": base}}]
    if fragment > longest:
        return [{"path": "bursts.max_wait_ms",
                 "message": _("The longest wait (%(longest)s ms) must not be shorter than the window after a "
                              "fragment (%(fragment)s ms).") % {"longest": longest, "fragment": fragment}}]
    return []


RULES: dict[str, list[Rule]] = {
    SHOP_SETTINGS_TEMPLATE: [_shop_settings_thresholds, _shop_settings_lists, _shop_settings_ocr_region,
                             _shop_settings_business_hours, _shop_settings_bursts],
}


def check_rules(template_code: str, values: dict) -> list[dict]:
    errors: list[dict] = []
    for rule in RULES.get(template_code, []):
        errors.extend(rule(values))
    return errors
