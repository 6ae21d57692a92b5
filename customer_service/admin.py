"""The customer-service admin pages: the shop layer's, then the top layer's (each module registers its own)."""

from customer_service.alerts import admin as alerts_admin  # noqa: F401
from customer_service.desktop import admin as desktop_admin  # noqa: F401
from customer_service.outbox import admin as outbox_admin  # noqa: F401
from customer_service.pipeline import admin as pipeline_admin  # noqa: F401
from customer_service.review import admin as review_admin  # noqa: F401
from customer_service.shops import admin as shops_admin  # noqa: F401
from customer_service.statistics import admin as statistics_admin  # noqa: F401
from customer_service.suggestions import admin as suggestions_admin  # noqa: F401
