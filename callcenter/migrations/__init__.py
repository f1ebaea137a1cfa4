"""Alembic migrations, shipped inside the package so `callcenter db upgrade` works anywhere."""
