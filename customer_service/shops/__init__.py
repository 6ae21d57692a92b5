"""The shop layer of customer_service: shops, their members and their roles, and the scoping built on them.

Above accounts and below knowledge, billing and configs, which import it; it imports none of them
(checked by import-linter, see pyproject.toml).
"""
