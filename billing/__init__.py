"""AI billing: providers, the model catalogue, configs, prices, budgets, usage — and the router.

Every AI call in kefu goes through :mod:`billing.router` (``chat`` / ``embed``): it picks the
candidate configs (billing.routing snapshot), checks and reserves quotas and budgets
(billing.budgets), skips configs whose circuit breaker is open (billing.breaker), calls the
provider through its official SDK (billing.providers), writes one UsageRecord per attempt
and fails over until one answers or raises ``AllProvidersFailed``.
"""
