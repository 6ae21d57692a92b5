"""The review queue: opening an item for a person, and what people do with it."""
