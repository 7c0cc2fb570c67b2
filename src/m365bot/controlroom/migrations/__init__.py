"""Alembic migrations of the Control Room server's database (revision ids ``crNNNN``)."""
