"""Signed webhooks: a clinic's endpoints, the outbox of events, deliveries and their log.

See ``docs/webhooks.md``."""
