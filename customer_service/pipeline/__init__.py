"""The reply pipeline: from a buyer's message to a reply that is safe to send.

The rule modules here are pure (no database, no network): ``bursts`` groups a
buyer's fragments into one question, ``intents`` finds messages that must go
to a person, ``safety`` checks every outgoing text before it is sent.
"""
