"""The command-line tests use the controller tests' sessions."""

from tests.base.conftest import mariadb_session, session, sqlite_session  # noqa: F401
