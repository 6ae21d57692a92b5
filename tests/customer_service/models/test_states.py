"""The state machines of messages, review items and the outbox: every allowed change goes through,
every other one is refused, and of two changes racing from one state exactly one wins."""

import threading

import pytest
from django.db import close_old_connections, connection

from customer_service.models import (
    MESSAGE_STATES,
    OUTBOX_STATES,
    REVIEW_STATES,
    Message,
    MessageStatus,
    OutgoingReply,
    OutgoingState,
    ReviewItem,
    ReviewStatus,
    TransitionRefused,
)
from tests.customer_service.factories import MessageFactory, OutgoingReplyFactory, ReviewItemFactory

MACHINES = [
    (MESSAGE_STATES, Message, MessageStatus, MessageFactory),
    (REVIEW_STATES, ReviewItem, ReviewStatus, ReviewItemFactory),
    (OUTBOX_STATES, OutgoingReply, OutgoingState, OutgoingReplyFactory),
]


def every_pair(machine, choices):
    return [(machine, old, new) for old in choices.values for new in choices.values if old != new]


CASES = [
    (machine, model, factory, old, new)
    for machine, model, choices, factory in MACHINES
    for _, old, new in every_pair(machine, choices)
]


@pytest.mark.django_db
@pytest.mark.parametrize(("machine", "model", "factory", "old", "new"), CASES,
                         ids=[f"{m.field}:{o}->{n}" for m, _, _, o, n in CASES])
def test_each_change_is_allowed_or_refused_as_the_machine_says(machine, model, factory, old, new):
    row = factory(**{machine.field: old})
    if machine.allows(old, new):
        machine.transition(model, pk=row.pk, old=old, new=new)
        assert getattr(model.objects.get(pk=row.pk), machine.field) == new
    else:
        with pytest.raises(TransitionRefused) as refused:
            machine.transition(model, pk=row.pk, old=old, new=new)
        assert refused.value.code == "transition_forbidden"
        assert getattr(model.objects.get(pk=row.pk), machine.field) == old


def test_the_pipeline_promises_are_in_the_machines():
    # An outgoing reply whose fate is unknown is never sent again on its own, and a confirmed one is final.
    assert not OUTBOX_STATES.edges.get(OutgoingState.UNKNOWN)
    assert not OUTBOX_STATES.edges.get(OutgoingState.CONFIRMED)
    assert not OUTBOX_STATES.allows(OutgoingState.SENDING, OutgoingState.QUEUED)
    # A decided review item stays decided.
    for status in ReviewStatus.values:
        if status != ReviewStatus.PENDING:
            assert not REVIEW_STATES.edges.get(status)


@pytest.mark.django_db
def test_a_change_from_a_state_the_row_has_left_is_refused_with_the_current_state():
    message = MessageFactory(status=MessageStatus.ANSWERED)
    with pytest.raises(TransitionRefused) as refused:
        MESSAGE_STATES.transition(Message, pk=message.pk, old=MessageStatus.NEW, new=MessageStatus.PROCESSING)
    assert refused.value.code == "state_conflict"
    assert refused.value.status_code == 409
    assert refused.value.detail == {"current": "answered"}


@pytest.mark.django_db
def test_the_change_writes_its_other_fields_in_the_same_update():
    message = MessageFactory()
    MESSAGE_STATES.transition(Message, pk=message.pk, old=MessageStatus.NEW, new=MessageStatus.PROCESSING,
                              lease_owner="worker-1", attempts=1)
    message.refresh_from_db()
    assert (message.status, message.lease_owner, message.attempts) == ("processing", "worker-1", 1)


@pytest.mark.django_db(transaction=True)
def test_of_many_threads_claiming_one_message_exactly_one_wins():
    message = MessageFactory()
    barrier = threading.Barrier(8)
    outcomes = []

    def claim(worker):
        close_old_connections()
        try:
            barrier.wait()
            try:
                MESSAGE_STATES.transition(Message, pk=message.pk, old=MessageStatus.NEW,
                                          new=MessageStatus.PROCESSING, lease_owner=worker)
                outcomes.append(("won", worker))
            except TransitionRefused:
                outcomes.append(("refused", worker))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [worker for outcome, worker in outcomes if outcome == "won"]
    assert len(outcomes) == 8
    assert len(winners) == 1
    assert Message.objects.get(pk=message.pk).lease_owner == winners[0]
