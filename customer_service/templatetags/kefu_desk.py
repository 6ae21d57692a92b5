"""``{% operator_desk as rows %}``: the operator's desk on the admin index (the review selectors' figures)."""

from django import template

from customer_service.review.admin import duration_text
from customer_service.review.selectors import operator_desk as desk_rows

register = template.Library()


@register.simple_tag(takes_context=True)
def operator_desk(context):
    request = context.get("request")
    if request is None or not getattr(request.user, "is_authenticated", False):
        return []
    return desk_rows(user=request.user)


@register.filter
def waited(seconds):
    """Seconds as the admin shows a wait (``2分05秒``); "-" for none."""
    return "-" if seconds is None else duration_text(seconds)
