"""Store tests use the ``engine`` fixture of tests/conftest.py: SQLite and PostgreSQL."""
