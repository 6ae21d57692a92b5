"""Filters shared by the apps' APIs."""

from datetime import UTC

from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters import fields, filters


class IsoDateTimeField(fields.IsoDateTimeField):
    """An ISO 8601 time, as UTC.

    Any offset Python reads (up to ±23:59) reaches the database as UTC:
    PostgreSQL refuses offsets past ±15:59, and a time at the edge of the
    calendar that leaves it in UTC is refused here instead of overflowing.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(_("The time is out of range."), code="invalid") from None


class IsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = IsoDateTimeField
