"""Users, roles, passwords, login sessions and API tokens."""
