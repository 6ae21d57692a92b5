"""Learning from review: review outcomes suggest knowledge-base changes that a shop admin accepts, edits or
dismisses (``services``)."""
