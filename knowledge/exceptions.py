from kefu.exceptions import KefuError


class KnowledgeError(KefuError):
    """A refused knowledge-base operation (bad input, unknown shop, failed import…)."""

    code = "knowledge_error"
