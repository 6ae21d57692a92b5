"""Every model of customer_service, where Django looks for them.

The shop layer's models (shops, memberships) live in ``customer_service.shops.models``, which the
apps below the top layer import. This package belongs to the top layer: its other modules hold the
top layer's models (one module per area) and refer to lower apps' models by string.
"""

from customer_service.shops.models import Shop, ShopMembership

from .alerts import (
    AlertChannel,
    AlertChannelKind,
    AlertDelivery,
    AlertDeliveryStatus,
    AlertEvent,
    AlertKind,
    AlertPhase,
)

__all__ = [
    "AlertChannel",
    "AlertChannelKind",
    "AlertDelivery",
    "AlertDeliveryStatus",
    "AlertEvent",
    "AlertKind",
    "AlertPhase",
    "Shop",
    "ShopMembership",
]
