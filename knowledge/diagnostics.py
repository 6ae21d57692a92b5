"""Checks ``manage.py diagnose`` runs for the knowledge base."""

from kefu.health import CheckResult

from .embedders import get_embedder
from .exceptions import KnowledgeError
from .selectors import calibration_state


def check_calibration() -> CheckResult:
    """Search confidences are calibrated for the configured embedder (else nothing is auto-sent)."""
    name = "knowledge calibration"
    try:
        embedder = get_embedder()
        if not embedder.dimension:
            # A remote model names itself (and so the calibration it needs) on its first call.
            embedder.embed(["诊断"])
    except KnowledgeError as exc:
        return CheckResult(name, False, exc.message)
    state = calibration_state(embedder)
    return CheckResult(name, state.calibrated, state.detail)
