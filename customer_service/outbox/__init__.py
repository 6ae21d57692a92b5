"""The outbox: every reply on its way to a buyer, checked before it is queued, sent at most once."""
