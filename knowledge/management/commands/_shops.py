from django.core.management.base import CommandError


def shop_by_name(name: str | None, *, shared: bool):
    """The shop called ``name``; None with ``shared`` (the items every shop shares)."""
    from customer_service.shops.models import Shop

    if shared:
        if name:
            raise CommandError("Give --shop or --shared, not both.")
        return None
    if not name:
        raise CommandError("Give --shop NAME (or --shared for the items every shop shares).")
    try:
        return Shop.objects.get(name=name)
    except Shop.DoesNotExist as exc:
        raise CommandError(f"No shop is called {name!r}.") from exc
