"""Errors a user can fix: each message names the thing and says what to do."""

from __future__ import annotations


class SinedonError(Exception):
    """Base class of the data model's user-facing errors."""

    exit_code = 1


class ConfigError(SinedonError):
    """``sinedon.cfg`` is missing, unreadable or malformed."""


class DatabaseUnreachable(SinedonError):
    """The database server does not answer or refuses the credentials."""


class DatabaseBusy(SinedonError):
    """A lock wait timed out or a deadlock was broken: trying again later succeeds."""


class MissingTable(SinedonError):
    """A table the code needs does not exist in the database."""


class NotSetUp(SinedonError):
    """``sinedon.setup()`` has not been called in this process."""


class MissingColumn(SinedonError):
    """A column Appion cannot work without is missing in a site's table."""
