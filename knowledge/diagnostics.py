"""Checks ``manage.py diagnose`` runs for the knowledge base."""

from kefu.health import CheckResult

from .embedders import get_embedder
from .exceptions import KnowledgeError
from .selectors import calibration_state, shop_calibration_state

# Shops named in a failed check; the rest are counted.
NAMED_SHOPS = 5


def check_calibration() -> CheckResult:
    """Every shop's search confidences are calibrated for the embedder in use (else nothing is auto-sent).

    A shop is covered by its own calibration (``ShopCalibration``) fitted for the
    embedder, else by the shipped one (or ``KEFU_KNOWLEDGE_CALIBRATION``).
    """
    from customer_service.shops.models import Shop

    from .models import ShopCalibration

    name = "knowledge calibration"
    try:
        embedder = get_embedder()
        if not embedder.dimension:
            # A remote model names itself (and so the calibration it needs) on its first call.
            embedder.embed(["诊断"])
    except KnowledgeError as exc:
        return CheckResult(name, False, exc.message)
    shipped = calibration_state(embedder)
    own = {shop_id for shop_id, params in ShopCalibration.objects.values_list("shop_id", "params")
           if shop_calibration_state(params, embedder) is not None}
    shops = list(Shop.objects.filter(is_active=True).order_by("name").values_list("pk", "name"))
    if shipped.calibrated:
        note = f"; {len(own)} shop(s) use their own" if own else ""
        return CheckResult(name, True, shipped.detail + note)
    bare = [shop_name for pk, shop_name in shops if pk not in own]
    if shops and not bare:
        return CheckResult(name, True, f"every shop has its own calibration for {embedder.name} {embedder.version}")
    if not bare:
        return CheckResult(name, False, shipped.detail)
    named = ", ".join(bare[:NAMED_SHOPS]) + (f" and {len(bare) - NAMED_SHOPS} more" if len(bare) > NAMED_SHOPS else "")
    return CheckResult(name, False, f"no calibration for {embedder.name} {embedder.version} in {len(bare)} "
                                    f"shop(s) ({named}): {shipped.detail}")
