"""Reads whose SQL the ORM builds once per thread, then runs again with other values.

Building a queryset's SQL costs more than PostgreSQL takes to run a short indexed read: about 0.4 ms
against 0.3 ms on the reply pipeline's reads, and the pipeline makes several for every buyer line. A
:class:`PreparedRead` builds its queryset once with marker values, compiles it, and remembers where
each marker landed among the statement's parameters. A later call puts the real values there and runs
the compiled statement through the same compiler, so rows come back converted exactly as the ORM
converts them (model instances with their related objects, ``values()`` dicts, ``values_list()``
tuples).

Nothing about the statement is guessed:

* the first call in a thread also builds the queryset with its real values and compares the two
  statements; a read whose statement does not match is never prepared again in the process, and is run
  through the ORM (a lookup that transforms its value, such as ``__contains``, ends up there);
* a value of another kind than the markers (``None``, which the ORM turns into ``IS NULL``; a naive
  datetime; a bool; a list) is run through the ORM, and so is a read that prefetches (prefetching
  happens after the statement); a thread whose connection object was replaced builds again.

Django has no such cache; the libraries that offered one stopped at Django 2.
"""

import itertools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

logger = logging.getLogger(__name__)

# Markers: values no real call passes, inside every integer column's range (Django drops a lookup whose
# integer is out of the column's range instead of sending it).
_INT_MARKER_BASE = 2_146_000_000
_STR_MARKER = "\ue000kefu-prepared-{}\ue000"
_DATETIME_MARKER_BASE = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)


def _kind(value) -> type | None:
    if type(value) is int or type(value) is str:
        return type(value)
    if type(value) is datetime and value.tzinfo is not None:
        return datetime
    return None


class _Compiled:
    """One thread's compiled statement: its compiler, SQL, parameters and the markers' places in them."""

    def __init__(self, queryset: QuerySet, compiler, sql: str, params: tuple, slots: dict, connection):
        self.queryset = queryset
        self.compiler = compiler
        self.sql = sql
        self.params = params
        self.slots = slots  # name -> (positions, adapt)
        self.connection = connection

    def statement(self, values: dict) -> tuple[str, tuple]:
        params = list(self.params)
        for name, (positions, adapt) in self.slots.items():
            value = adapt(values[name])
            for position in positions:
                params[position] = value
        return self.sql, tuple(params)

    def run(self, values: dict) -> list:
        statement = self.statement(values)
        self.compiler.as_sql = lambda *args, **kwargs: statement
        try:
            return list(self.queryset._iterable_class(self.queryset))
        finally:
            del self.compiler.as_sql


class PreparedRead:
    """``build(**values)`` → the queryset to run; calling the read with the same keywords runs it.

    ``build`` must give the same statement for every value of the same kind (no branching on the
    values); each keyword is an int, a str or an aware datetime. Returns the rows as a list.
    """

    _names = itertools.count()

    def __init__(self, build: Callable[..., QuerySet]):
        self.build = build
        self.name = f"{getattr(build, '__module__', '')}.{getattr(build, '__qualname__', 'read')}#{next(self._names)}"
        self._local = threading.local()
        self._refused = False

    def __call__(self, **values) -> list:
        kinds = tuple(sorted((name, _kind(value)) for name, value in values.items()))
        if self._refused or any(kind is None for _, kind in kinds):
            return list(self.build(**values))
        cache = getattr(self._local, "compiled", None)
        if cache is None:
            cache = self._local.compiled = {}
        compiled = cache.get(kinds)
        if compiled is not None and compiled.connection is not connections[compiled.queryset.db]:
            compiled = None  # the thread's connection object was replaced (tests swap it)
        if compiled is None:
            compiled = self._compile(values, kinds)
            if compiled is None:
                return list(self.build(**values))
            cache[kinds] = compiled
        return compiled.run(values)

    def _compile(self, values: dict, kinds: tuple) -> _Compiled | None:
        markers = {}
        for number, (name, kind) in enumerate(kinds):
            if kind is int:
                markers[name] = _INT_MARKER_BASE + number
            elif kind is str:
                markers[name] = _STR_MARKER.format(number)
            else:
                markers[name] = _DATETIME_MARKER_BASE.replace(microsecond=number)
        try:
            queryset = self.build(**markers)
            if queryset._prefetch_related_lookups:
                return self._refuse("prefetching runs after the statement, outside it")
            alias = queryset.db
            compiler = queryset.query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
        except Exception as exc:  # a builder that looks at its values: the ORM builds it every time
            return self._refuse(f"it cannot be built with marker values ({type(exc).__name__})")
        connection = connections[alias]
        slots = {}
        for name, marker in markers.items():
            adapt = _identity
            if isinstance(marker, datetime):
                adapted = connection.ops.adapt_datetimefield_value(marker)
                if adapted != marker:
                    marker, adapt = adapted, connection.ops.adapt_datetimefield_value
            positions = tuple(n for n, param in enumerate(params) if type(param) is type(marker) and param == marker)
            if not positions:
                return self._refuse(f"the value of {name!r} does not reach the statement as it was given")
            slots[name] = (positions, adapt)
        compiled = _Compiled(queryset, compiler, sql, tuple(params), slots, connection)
        queryset.query.get_compiler = lambda *args, **kwargs: compiler
        try:
            expected = self.build(**values).query.get_compiler(using=alias).as_sql()
        except EmptyResultSet:
            # These values need no statement at all (an id beyond its column's range): the ORM answers this
            # call, and the next one checks again.
            return None
        if compiled.statement(values) != (expected[0], tuple(expected[1])):
            return self._refuse("the statement built with the real values differs from the prepared one")
        return compiled

    def _refuse(self, why: str) -> None:
        logger.warning("read %s is run through the ORM every time: %s", self.name, why)
        self._refused = True
        return None


def _identity(value):
    return value
