"""Send each app's models to the database alias of the same name."""

from sinedon.config import ALIASES
from sinedon.connection import resolve_alias


class DatabaseRouter:
    def _alias(self, model):
        label = model._meta.app_label
        return resolve_alias(label) if label in ALIASES else None

    def db_for_read(self, model, **hints):
        return self._alias(model)

    def db_for_write(self, model, **hints):
        return self._alias(model)

    def allow_relation(self, first, second, **hints):
        return self._alias(type(first)) == self._alias(type(second))

    def allow_migrate(self, db, app_label, **hints):
        return db == resolve_alias(app_label)
