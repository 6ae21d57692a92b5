"""Pipeline fixtures: the decision the orchestration tests ask for, and the settings template."""

import sys
import types
from dataclasses import dataclass


def _install_interface_standin():
    """The decision and drafting interface (PIPELINE.md) while its modules are not in the project yet."""
    import importlib

    def present(name):
        try:
            importlib.import_module(f"customer_service.pipeline.{name}")
        except ImportError:
            return False
        return True

    @dataclass(frozen=True)
    class Decision:
        action: str
        rule: str
        reason: str = ""
        reply_text: str = ""
        reply_source: str = ""
        confidence: float | None = None
        knowledge_item_id: int | None = None
        matched_phrasing: str = ""
        hits: tuple = ()
        away_message: str = ""

    @dataclass(frozen=True)
    class Draft:
        text: str
        usage_record_ids: tuple = ()
        error_rule: str = ""
        error: str = ""

    decision = types.ModuleType("customer_service.pipeline.decision")
    decision.Decision = Decision
    decision.message_decide = lambda *, message, text, now=None: Decision(action="review", rule="kb.none")
    drafting = types.ModuleType("customer_service.pipeline.drafting")
    drafting.Draft = Draft
    drafting.reply_draft = lambda *, message, text, hits=(), now=None: Draft(
        text="", error_rule="llm.no_provider", error="No AI provider is configured."
    )
    if not present("decision"):
        sys.modules["customer_service.pipeline.decision"] = decision
    if not present("drafting"):
        sys.modules["customer_service.pipeline.drafting"] = drafting


_install_interface_standin()
