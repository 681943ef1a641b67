"""SQL built from model metadata, for the few statements that run on the event loop.

config.loop_db runs raw statements; the columns, types and values still come from the models, so
a migration that adds a column changes these statements too. Every placeholder carries its
column's type: a statement may take values through `INSERT ... SELECT ... FROM <cte>`, where
PostgreSQL cannot infer a bare parameter's type (a NULL would arrive as text).
"""

import functools
import re
from dataclasses import dataclass

from django.db import connection, models


@dataclass(frozen=True)
class InsertShape:
    table: str
    fields: tuple[models.Field, ...]
    columns: str  # "a, b, c"
    values: str  # "%s::integer, %s::varchar(32), ..."

    def params(self, instance: models.Model) -> list:
        """The instance's values in column order, as a save would write them (auto_now_add,
        defaults, JSON adaptation); sets the values pre_save computes on the instance."""
        return [
            field.get_db_prep_save(field.pre_save(instance, add=True), connection)
            for field in self.fields
        ]


_LENGTH = re.compile(r"\(\d+\)")


def _placeholder(field: models.Field) -> str:
    # Without the length: a cast to varchar(n) would silently truncate a value the column's
    # assignment refuses, as the ORM's insert would.
    return "%s::" + _LENGTH.sub("", field.db_type(connection))


@functools.cache
def insert_shape(model: type[models.Model], *, with_pk: bool = False) -> InsertShape:
    """The columns and typed placeholders of an INSERT of `model` (its primary key only when
    `with_pk`, for a key the caller generated)."""
    fields = tuple(
        field
        for field in model._meta.concrete_fields
        if with_pk or not (field.primary_key and isinstance(field, models.AutoField))
    )
    return InsertShape(
        table=connection.ops.quote_name(model._meta.db_table),
        fields=fields,
        columns=", ".join(connection.ops.quote_name(field.column) for field in fields),
        values=", ".join(_placeholder(field) for field in fields),
    )


def insert_sql(
    model: type[models.Model], *, with_pk: bool = False, source: str | None = None, rows: int = 1
) -> str:
    """INSERT of `rows` rows of `model`; or, with `source` (a CTE name), one row per row of it."""
    shape = insert_shape(model, with_pk=with_pk)
    head = f"INSERT INTO {shape.table} ({shape.columns})"
    if source:
        return f"{head} SELECT {shape.values} FROM {source}"
    return f"{head} VALUES {', '.join([f'({shape.values})'] * rows)}"


def copy_sql(model: type[models.Model]) -> str:
    """COPY of new rows of `model` (no primary key), for LoopDatabase.copy_rows: the cheapest way
    to write many rows, one per `insert_shape(model).params(instance)`."""
    shape = insert_shape(model)
    return f"COPY {shape.table} ({shape.columns}) FROM STDIN"


def set_clause(model: type[models.Model], names: tuple[str, ...]) -> str:
    """`"col" = %s::type, ...` for the fields `names` of `model`, in that order."""
    fields = [model._meta.get_field(name) for name in names]
    return ", ".join(
        f"{connection.ops.quote_name(field.column)} = {_placeholder(field)}" for field in fields
    )


def column_values(instance: models.Model, names: tuple[str, ...]) -> list:
    """The values of the fields `names` of `instance`, prepared as a save would."""
    meta = instance._meta
    return [
        meta.get_field(name).get_db_prep_save(
            getattr(instance, meta.get_field(name).attname), connection
        )
        for name in names
    ]
