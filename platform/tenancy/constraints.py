"""Database constraints that keep `enterprise_id` consistent across tenant tables.

Django cannot declare a composite foreign key, so a migration adds it with `tenant_foreign_key()`:
the child's `(parent_id, enterprise_id)` must match the parent's `(id, enterprise_id)`, which the
parent guarantees unique with `UniqueConstraint(fields=["id", "enterprise"], ...)`. Without it a
bug in a service could file a store of enterprise A under a merchant of enterprise B, and every
scoping decision that trusts `enterprise_id` would be wrong. Other apps use it the same way:

    from tenancy.constraints import tenant_foreign_key
    operations = [
        tenant_foreign_key("terminals_terminal", "store_id", "tenancy_store"),
        enterprise_id_immutable("terminals_terminal"),
    ]
"""

from django.db import migrations


def tenant_foreign_key(table: str, column: str, parent_table: str) -> migrations.RunSQL:
    """Return a migration operation adding `(column, enterprise_id) -> parent (id, enterprise_id)`."""
    name = f"{table}_{column}_same_enterprise"[:63]
    return migrations.RunSQL(
        sql=(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" '
            f'FOREIGN KEY ("{column}", "enterprise_id") '
            f'REFERENCES "{parent_table}" ("id", "enterprise_id")'
        ),
        reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"',
    )


def append_only(table: str) -> migrations.RunSQL:
    """Return a migration operation that makes the database refuse UPDATE and DELETE on a table."""
    function = f"{table}_append_only"
    return migrations.RunSQL(
        sql=(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$; "
            f'CREATE TRIGGER {function} BEFORE UPDATE OR DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION {function}();"
        ),
        reverse_sql=f'DROP TRIGGER {function} ON "{table}"; DROP FUNCTION {function}();',
    )


# Created once by tenancy's migration 0003; every tenant table's trigger calls it.
IMMUTABLE_ENTERPRISE_FUNCTION = "shouyin_enterprise_id_immutable"


def enterprise_id_immutable(table: str) -> migrations.RunSQL:
    """Return a migration operation that makes the database refuse changing a row's enterprise.

    Depend on ("tenancy", "0003_enterprise_id_immutable") to use it from another app.
    """
    trigger = f"{table}_enterprise_id_immutable"[:63]
    return migrations.RunSQL(
        sql=(
            f'CREATE TRIGGER "{trigger}" BEFORE UPDATE OF enterprise_id ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION {IMMUTABLE_ENTERPRISE_FUNCTION}();"
        ),
        reverse_sql=f'DROP TRIGGER "{trigger}" ON "{table}";',
    )
