"""Alembic environment of the vault schema. The store upgrades to head on open."""
