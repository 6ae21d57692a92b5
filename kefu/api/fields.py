"""Serializer fields shared by the apps' APIs."""

from rest_framework import serializers

from .parsers import json_too_deep, too_deep_message


class JSONField(serializers.JSONField):
    """DRF's JSONField, with the JSON parser's nesting bound also on JSON sent as a form field."""

    def to_internal_value(self, data):
        try:
            data = super().to_internal_value(data)
        except RecursionError:
            raise serializers.ValidationError(too_deep_message()) from None
        if json_too_deep(data):
            raise serializers.ValidationError(too_deep_message())
        return data


class IdField(serializers.IntegerField):
    """The id of a row, as a query or body parameter: 1 up to the largest id a column holds.

    A plain IntegerField lets any size through, and SQLite cannot bind a number past 64 bits.
    """

    def __init__(self, **kwargs):
        from .filters import ID_MAX

        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)
