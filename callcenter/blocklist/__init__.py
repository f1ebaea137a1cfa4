"""Numbers that never get through: exact numbers, prefixes and anonymous callers."""
