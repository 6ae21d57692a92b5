"""Reads and conditional updates whose SQL the ORM builds once per thread, then runs again with other values.

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

A :class:`PreparedUpdate` does the same for ``queryset.update(...)``, once per shape of its values (see
the class).

Django has no such cache; the libraries that offered one stopped at Django 2.
"""

import itertools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import QuerySet
from django.db.models.sql import UpdateQuery

logger = logging.getLogger(__name__)

# Markers: values no real call passes, inside every integer column's range (Django drops a lookup whose
# integer is out of the column's range instead of sending it).
_INT_MARKER_BASE = 2_146_000_000
_STR_MARKER = "\ue000kefu-prepared-{}\ue000"
_DATETIME_MARKER_BASE = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)


def _kind(value) -> type | None:
    # A choice (a str or int enum member) reaches the statement as the ORM passes it: the member itself.
    if isinstance(value, str):
        return str
    if isinstance(value, int) and not isinstance(value, bool):
        return int
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
        self.slots = slots  # name -> ((position, adapt), ...)
        self.connection = connection

    def statement(self, values: dict) -> tuple[str, tuple]:
        return self.sql, _bound(self.params, self.slots, values)

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
        markers = _markers(kinds)
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
        slots = _slots(markers, params, connection)
        if isinstance(slots, str):
            return self._refuse(slots)
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


def _markers(kinds, start: int = 0) -> dict:
    """A marker for each (name, kind): numbered from ``start``, so that no two markers of a statement are equal."""
    markers = {}
    for number, (name, kind) in enumerate(kinds, start=start):
        if kind is int:
            markers[name] = _INT_MARKER_BASE + number
        elif kind is str:
            markers[name] = _STR_MARKER.format(number)
        elif kind is datetime:
            markers[name] = _DATETIME_MARKER_BASE.replace(microsecond=number)
    return markers


def _slots(markers: dict, params, connection) -> dict | str:
    """Where each marker landed among ``params``, each place with how the value is adapted there, or why it
    cannot be told. An adapted value is the field's: a datetime as the database takes it, an integer in the
    type of its column (psycopg 3's Int2, Int4…)."""
    slots = {}
    for name, marker in markers.items():
        if isinstance(marker, datetime):
            adapted = connection.ops.adapt_datetimefield_value(marker)
            adapt = _identity if adapted == marker else connection.ops.adapt_datetimefield_value
            places = [(n, adapt) for n, param in enumerate(params) if type(param) is type(adapted) and param == adapted]
        elif isinstance(marker, int):
            places = [(n, _identity if type(param) is int else type(param)) for n, param in enumerate(params)
                      if isinstance(param, int) and not isinstance(param, bool) and param == marker]
        else:
            places = [(n, _identity) for n, param in enumerate(params) if type(param) is str and param == marker]
        if not places:
            return f"the value of {name!r} does not reach the statement as it was given"
        slots[name] = tuple(places)
    return slots


def _bound(params: tuple, slots: dict, values: dict) -> tuple:
    """``params`` with each marker replaced by its value, adapted as the ORM adapts it there."""
    params = list(params)
    for name, places in slots.items():
        value = values[name]
        for position, adapt in places:
            params[position] = adapt(value)
    return tuple(params)


def _written_kind(value):
    """The kind of a value an UPDATE writes: as for a read, or the value itself for None and bools, which a
    statement of that shape always writes as they are."""
    if value is None or type(value) is bool:
        return ("constant", value)
    return _kind(value)


class _CompiledUpdate:
    def __init__(self, sql: str, params: tuple, slots: dict, connection, alias: str):
        self.sql, self.params, self.slots, self.connection, self.alias = sql, params, slots, connection, alias

    def statement(self, values: dict) -> tuple[str, tuple]:
        return self.sql, _bound(self.params, self.slots, values)


class PreparedUpdate:
    """A conditional ``UPDATE`` the ORM builds once per thread and shape, then run with other values.

    ``build(**where)`` → the queryset whose rows to change; ``update(where={...}, values={...})`` writes
    ``values`` (field name → value) to them and returns how many rows it changed, as
    ``build(**where).update(**values)`` does. The shape of a call is the names and kinds of its values: a
    where value is an int, a str or an aware datetime (as for :class:`PreparedRead`); a written value one of
    those, or None or a bool (written as they are in every statement of their shape). A value of another
    kind (a model instance, a list) goes through the ORM, and so does every call of a shape that could not be
    prepared: an update that changes or reads other tables (the ORM then updates through a subquery), a
    builder that cannot take marker values, a statement that differs from the ORM's own for the first real
    values. The other shapes stay prepared.
    """

    _names = itertools.count()

    def __init__(self, build: Callable[..., QuerySet]):
        self.build = build
        self.name = f"{getattr(build, '__module__', '')}.{getattr(build, '__qualname__', 'update')}#{next(self._names)}"
        self._local = threading.local()
        # The shapes whose statement could not be prepared: run through the ORM in every thread. A caller's
        # odd shape (an id given as a str, say) leaves the others prepared.
        self._refused: set = set()

    def update(self, *, where: dict, values: dict) -> int:
        # In the order given: the ORM writes the SET clause in the order of the values.
        where_kinds = tuple((name, _kind(value)) for name, value in where.items())
        value_kinds = tuple((name, _written_kind(value)) for name, value in values.items())
        shape = (where_kinds, value_kinds)
        if (shape in self._refused or any(kind is None for _, kind in where_kinds + value_kinds)
                or set(where) & set(values)):
            return self.build(**where).update(**values)
        cache = getattr(self._local, "compiled", None)
        if cache is None:
            cache = self._local.compiled = {}
        compiled = cache.get(shape)
        if compiled is not None and compiled.connection is not connections[compiled.alias]:
            compiled = None  # the thread's connection object was replaced (tests swap it)
        if compiled is None:
            compiled = self._compile(where, values, shape)
            if compiled is None:
                return self.build(**where).update(**values)
            cache[shape] = compiled
        sql, params = compiled.statement({**where, **values})
        with transaction.mark_for_rollback_on_error(using=compiled.alias), compiled.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def _statement(self, where: dict, values: dict) -> tuple[str, tuple, str] | str:
        """The ORM's own statement for these values, as ``QuerySet.update`` builds it, or why it is not one."""
        queryset = self.build(**where)
        queryset._for_write = True
        if queryset.query.is_sliced or queryset.query.combinator or queryset.query.order_by:
            return "it is sliced, combined or ordered"
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(values)
        query.clear_select_clause()
        query.get_initial_alias()
        if query.related_updates or query.count_active_tables() != 1:
            return "it changes or reads other tables"
        sql, params = query.get_compiler(using=queryset.db).as_sql()
        return sql, tuple(params), queryset.db

    def _compile(self, where: dict, values: dict, shape) -> _CompiledUpdate | None:
        where_kinds, value_kinds = shape
        where_markers = _markers(where_kinds)
        value_markers = _markers(value_kinds, start=len(where_kinds))
        # a constant's kind is ("constant", value): the statement is built with the value itself
        marked_values = {name: value_markers[name] if name in value_markers else kind[1] for name, kind in value_kinds}
        try:
            built = self._statement(where_markers, marked_values)
        except Exception as exc:  # a builder that looks at its values: the ORM builds it every time
            return self._refuse(shape, f"it cannot be built with marker values ({type(exc).__name__})")
        if isinstance(built, str):
            return self._refuse(shape, built)
        sql, params, alias = built
        connection = connections[alias]
        slots = _slots({**where_markers, **value_markers}, params, connection)
        if isinstance(slots, str):
            return self._refuse(shape, slots)
        compiled = _CompiledUpdate(sql, params, slots, connection, alias)
        try:
            expected = self._statement(where, values)
        except EmptyResultSet:
            return None  # these values need no statement: the ORM answers this call, the next one checks again
        if isinstance(expected, str) or compiled.statement({**where, **values}) != expected[:2]:
            return self._refuse(shape, "the statement built with the real values differs from the prepared one")
        return compiled

    def _refuse(self, shape, why: str) -> None:
        logger.warning("update %s is run through the ORM every time for the shape %s: %s", self.name, shape, why)
        self._refused.add(shape)
        return None
