"""Declare Leginon-style tables as data and build Django models from them.

Leginon's MySQL columns encode their kind in the name: ``REF|SessionData|session``
(a reference, an integer id), ``SUBD|dimension|x`` (one member of a sub-dictionary;
nested dictionaries repeat the prefix: ``SUBD|stigmator|SUBD|condenser|x``),
``SEQ|use frames`` (a Python sequence stored as its ``repr``), ``MRC|image`` (the
name of an MRC file).  The Python name of each field is Leginon's own data key with
spaces turned into underscores: ``session``, ``dimension_x``, ``use_frames``,
``image``.  ``DEF_id`` is the primary key ``id`` and ``DEF_timestamp`` is
``def_timestamp``; the database server sets it (``DEFAULT CURRENT_TIMESTAMP``).

References are plain integer columns, as in Leginon (no foreign-key constraints,
and references across databases are possible).

A model declares the columns Appion reads or writes.  Production tables differ
between Leginon versions, so a column is *optional* unless declared ``required``:
an optional column a site's table lacks reads as ``None`` and is not written (see
:mod:`sinedon.tables`); a required one missing stops the program with the
``ALTER TABLE`` statement that adds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import models

#: The SQL type of each field class, as classic sinedon creates columns.
SQL_TYPES = {models.TextField: "text", models.BigIntegerField: "int(20)",
             models.FloatField: "double", models.BooleanField: "tinyint(1)"}


@dataclass(frozen=True)
class Column:
    """One column: its MySQL name, its Python name and the Django field that stores it."""

    db_name: str
    field_class: type[models.Field]
    options: tuple[tuple[str, Any], ...] = ()
    required: bool = False

    @property
    def name(self) -> str:
        return python_name(self.db_name)

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.field_class]

    def make_field(self) -> models.Field:
        return self.field_class(db_column=self.db_name, null=True, blank=True,
                                **dict(self.options))


def python_name(db_name: str) -> str:
    """Leginon's data key for a column: ``REF|SessionData|session`` -> ``session``."""
    parts = db_name.split("|")
    kind = parts[0]
    if kind == "REF":
        key = parts[-1]
    elif kind in ("SUBD", "SEQ", "MRC", "ARRAY", "PICKLE", "DICT"):
        key = "_".join(part for part in parts[1:] if part != "SUBD")
    else:
        key = db_name
    return re.sub(r"[^0-9a-zA-Z]+", "_", key).strip("_")


def ref(table: str, key: str, database: str | None = None) -> Column:
    """``REF|Table|key``, or ``REF|database|Table|key`` across databases."""
    db_name = f"REF|{database}|{table}|{key}" if database else f"REF|{table}|{key}"
    return Column(db_name, models.BigIntegerField, (("db_index", True),))


def subd(key: str, members: Sequence[str] = "xy", kind: str = "float") -> list[Column]:
    """``SUBD|key|x``, ``SUBD|key|y`` … (``kind`` is ``float`` or ``int``); a nested
    key ``stigmator|condenser`` becomes ``SUBD|stigmator|SUBD|condenser|x``."""
    field_class = models.FloatField if kind == "float" else models.BigIntegerField
    prefix = "|".join(f"SUBD|{part}" for part in key.split("|"))
    return [Column(f"{prefix}|{member}", field_class) for member in members]


def seq(key: str) -> Column:
    """``SEQ|key``: a sequence stored as its Python ``repr``."""
    return Column(f"SEQ|{key}", models.TextField)


def mrc(key: str = "image") -> Column:
    """``MRC|key``: the file name of an MRC image."""
    return Column(f"MRC|{key}", models.TextField)


def text(name: str) -> Column:
    return Column(name, models.TextField)


def integer(name: str) -> Column:
    return Column(name, models.BigIntegerField)


def real(name: str) -> Column:
    return Column(name, models.FloatField)


def boolean(name: str) -> Column:
    return Column(name, models.BooleanField)


def required(*specs: Column | list[Column]) -> list[Column]:
    """The same columns, marked as ones Appion cannot work without."""
    return [replace(column, required=True) for column in _flatten(specs)]


def _flatten(specs) -> list[Column]:
    columns: list[Column] = []
    for spec in specs:
        columns.extend(spec if isinstance(spec, list) else [spec])
    return columns


def declared_columns(model) -> tuple[Column, ...]:
    """The :class:`Column` declarations a model was built from."""
    return model.sinedon_columns


def define_table(app_label: str, table: str, specs, module: str) -> type[models.Model]:
    """Build the Django model of ``table`` with ``DEF_id``, ``DEF_timestamp`` and ``specs``."""
    columns = _flatten(specs)
    names = [column.name for column in columns]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"{table}: two columns map to the Python name(s) {sorted(duplicates)}")
    attributes: dict[str, Any] = {
        "__module__": module,
        "id": models.BigAutoField(primary_key=True, db_column="DEF_id"),
        "def_timestamp": models.DateTimeField(db_column="DEF_timestamp", null=True,
                                              blank=True),
        "sinedon_columns": tuple(columns),
        "Meta": type("Meta", (), {"db_table": table, "app_label": app_label,
                                  "managed": True}),
    }
    for column in columns:
        attributes[column.name] = column.make_field()
    return type(table, (models.Model,), attributes)
