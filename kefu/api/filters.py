"""Filters shared by the apps' APIs: the FilterSet base and backend every list endpoint uses."""

from copy import deepcopy
from datetime import UTC

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils.translation import gettext_lazy as _
from django_filters import fields
from django_filters.conf import settings as django_filters_settings
from django_filters.filterset import remote_queryset
from django_filters.rest_framework import DjangoFilterBackend, filters
from django_filters.rest_framework import filterset as rest_filterset


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


# Integer filters ---------------------------------------------------------------
# The ranges of the columns Django creates, the same on every database kefu runs on (SQLite
# stores any integer up to 64 bits, PostgreSQL refuses past each column's size): a number past
# them names no row and, bound as a query parameter, was an OverflowError on SQLite.
INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges
ID_MAX = INTEGER_RANGES["BigAutoField"][1]


def integer_bounds(model_field) -> dict:
    """``min_value`` / ``max_value`` of the column behind ``model_field`` (a relation: its target's)."""
    target = model_field.target_field if model_field.is_relation else model_field
    low, high = INTEGER_RANGES.get(target.get_internal_type(), (None, None))
    return {"min_value": low, "max_value": high}


class IntegerFilter(filters.NumberFilter):
    """A whole number within ``min_value`` / ``max_value``; anything else is a 400."""

    field_class = forms.IntegerField


# Boolean filters ---------------------------------------------------------------
TRUE_WORDS, FALSE_WORDS = {"true", "1"}, {"false", "0"}


class StrictBooleanWidget(forms.TextInput):
    """Hands the field the text as sent (django-filter's widget turns every unknown word into "no filter")."""

    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        return value.strip().lower() if isinstance(value, str) else value


class StrictBooleanField(forms.Field):
    widget = StrictBooleanWidget

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in TRUE_WORDS or value is True:
            return True
        if value in FALSE_WORDS or value is False:
            return False
        raise forms.ValidationError(_("Must be true or false."), code="invalid")


class BooleanFilter(filters.BooleanFilter):
    """true / false (or 1 / 0); any other word is a 400 instead of being silently ignored."""

    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs["widget"] = StrictBooleanWidget  # django-filter's REST BooleanFilter sets its own lenient one
        super().__init__(*args, **kwargs)


# Related rows ------------------------------------------------------------------
def visible_rows(model_field):
    """The rows a relation filter accepts: those the person sees (``for_user``), so a filter
    answers an id they may not see exactly like an id nobody has."""

    def rows(request):
        queryset = remote_queryset(model_field)
        user = getattr(request, "user", None)
        if hasattr(queryset, "for_user") and user is not None:
            return queryset.for_user(user)
        return queryset

    return rows


FILTER_DEFAULTS = deepcopy(rest_filterset.FILTER_FOR_DBFIELD_DEFAULTS)
for integer_type in (models.AutoField, models.IntegerField, models.SmallIntegerField, models.PositiveIntegerField,
                     models.PositiveSmallIntegerField, models.BigIntegerField, models.PositiveBigIntegerField):
    FILTER_DEFAULTS[integer_type] = {"filter_class": IntegerFilter, "extra": integer_bounds}
for boolean_type in (models.BooleanField, models.NullBooleanField):
    FILTER_DEFAULTS[boolean_type] = {"filter_class": BooleanFilter}
for relation_type in (models.ForeignKey, models.OneToOneField):
    FILTER_DEFAULTS[relation_type] = {
        "filter_class": filters.ModelChoiceFilter,
        "extra": lambda f: {
            "queryset": visible_rows(f),
            "to_field_name": f.remote_field.field_name,
            "null_label": django_filters_settings.NULL_CHOICE_LABEL if f.null else None,
        },
    }


class FilterSet(rest_filterset.FilterSet):
    """The base of every API filter set: integers bounded by their column, strict booleans,
    relations limited to the rows the person sees."""

    FILTER_DEFAULTS = FILTER_DEFAULTS


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend over :class:`FilterSet`, refusing filter sets built on another base.

    A filter set of django-filter's own would bring back the 500s and the silently ignored
    booleans above: it is a configuration error, raised on the first request.
    """

    filterset_base = FilterSet

    def get_filterset_class(self, view, queryset=None):
        filterset_class = super().get_filterset_class(view, queryset)
        if filterset_class is not None:
            if not issubclass(filterset_class, FilterSet):
                raise ImproperlyConfigured(f"{filterset_class.__name__} must subclass kefu.api.filters.FilterSet.")
            loose = [name for name, declared in filterset_class.base_filters.items()
                     if isinstance(declared, filters.BooleanFilter) and not isinstance(declared, BooleanFilter)]
            if loose:
                raise ImproperlyConfigured(f"{filterset_class.__name__}: use kefu.api.filters.BooleanFilter for "
                                           f"{', '.join(loose)}.")
        return filterset_class
