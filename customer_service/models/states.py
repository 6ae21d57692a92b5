"""Status changes of the reply pipeline's rows, one conditional update each.

Two workers (or two people) acting on one row both read the same status; only one of their
``UPDATE … WHERE status = old`` finds the row, so only one wins and the other is refused with a 409.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Model
from django.utils.translation import gettext as _

from kefu.exceptions import Conflict
from kefu.prepared import PreparedUpdate


class TransitionRefused(Conflict):
    """The row was not in the state the change starts from (someone else changed it first), or the
    change is not one the state machine allows."""

    code = "state_conflict"


class StateMachine:
    """The allowed changes of one status field: ``edges[old]`` = the statuses ``old`` may become."""

    def __init__(self, name: str, field: str, edges: Mapping[str, frozenset[str] | set[str]]):
        self.name = name
        self.field = field
        self.edges = {old: frozenset(new) for old, new in edges.items()}
        self._updates: dict[tuple[type, int], PreparedUpdate] = {}

    def allows(self, old: str, new: str) -> bool:
        return new in self.edges.get(old, frozenset())

    def transition(self, model, *, pk, old: str | tuple[str, ...], new: str, **changes) -> None:
        """Move row ``pk`` of ``model`` from ``old`` (one status or several) to ``new``, writing
        ``changes`` in the same UPDATE; refuse unless exactly that row was in ``old``."""
        olds = (old,) if isinstance(old, str) else tuple(old)
        forbidden = [state for state in olds if not self.allows(state, new)]
        if forbidden:
            raise TransitionRefused(
                _("%(name)s cannot go from %(old)s to %(new)s.") % {"name": self.name, "old": forbidden[0], "new": new},
                code="transition_forbidden",
            )
        olds = tuple(dict.fromkeys(olds))
        updated = self._update(model, len(olds)).update(
            where={"pk": pk, **{f"old{number}": state for number, state in enumerate(olds)}},
            values={self.field: new, **_by_id(model, changes)},
        )
        if updated != 1:
            current = model._default_manager.filter(pk=pk).values_list(self.field, flat=True).first()
            raise TransitionRefused(
                _("%(name)s is %(current)s now, not %(old)s: someone else changed it first.")
                % {"name": self.name, "current": current or _("gone"), "old": "/".join(olds)},
                detail={"current": current},
            )

    def _update(self, model, olds: int = 1) -> PreparedUpdate:
        """The conditional UPDATE of a row of ``model`` from one of ``olds`` statuses, prepared."""
        update = self._updates.get((model, olds))
        if update is None:
            field = self.field

            def rows(pk, **olds_given):
                return model._default_manager.filter(pk=pk, **{f"{field}__in": list(olds_given.values())})

            update = self._updates.setdefault((model, olds), PreparedUpdate(rows))
        return update


def _by_id(model, changes: Mapping) -> dict:
    """``changes`` with each saved related row given by its id: the same UPDATE, with a value a prepared
    update can take."""
    by_id = {}
    for name, value in changes.items():
        if isinstance(value, Model) and value.pk is not None:
            field = model._meta.get_field(name)
            if field.is_relation:
                name, value = field.attname, value.pk
        by_id[name] = value
    return by_id
