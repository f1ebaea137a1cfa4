"""Outgoing webhooks: ticket events posted, signed, to the systems a team runs (a CRM)."""
