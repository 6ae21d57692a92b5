"""The billing app's one exception family, rendered by kefu.api.exceptions as coded JSON."""

from kefu.exceptions import KefuError


class BillingError(KefuError):
    code = "billing_error"
    status_code = 400


class AllProvidersFailed(BillingError):
    """Every candidate config failed or was skipped; ``detail`` lists each attempt.

    The caller sends the message to human review: it is never dropped.
    """

    code = "all_providers_failed"
    status_code = 503


class NoProviderConfigured(AllProvidersFailed):
    """No active config offers the capability (drafts are skipped, review still works)."""

    code = "no_provider_configured"


class BudgetExceeded(BillingError):
    """A quota or budget would be exceeded: ``code`` says which one."""

    code = "budget_exceeded"
    status_code = 429


class ProviderError(Exception):
    """One attempt at a provider failed; ``code`` is an ErrorCode value.

    Raised by provider clients, caught by the router; never reaches the API.
    """

    def __init__(self, code: str, message: str, *, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
