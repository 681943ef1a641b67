"""A row never moves to another enterprise; invitations name a target that fits their role."""

from django.db import migrations, models
from django.db.models import Q

from tenancy.constraints import IMMUTABLE_ENTERPRISE_FUNCTION, enterprise_id_immutable

TENANT_TABLES = [
    "tenancy_merchant",
    "tenancy_store",
    "tenancy_membership",
    "tenancy_invitation",
    "tenancy_apikey",
    "tenancy_merchantdocument",
]


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0002_enterprise_consistency")]

    operations = [
        migrations.RunSQL(
            sql=(
                f"CREATE FUNCTION {IMMUTABLE_ENTERPRISE_FUNCTION}() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.enterprise_id IS DISTINCT FROM OLD.enterprise_id THEN "
                "RAISE EXCEPTION '%.enterprise_id cannot change', TG_TABLE_NAME; END IF; "
                "RETURN NEW; END $$;"
            ),
            reverse_sql=f"DROP FUNCTION {IMMUTABLE_ENTERPRISE_FUNCTION}();",
        ),
        *[enterprise_id_immutable(table) for table in TENANT_TABLES],
        migrations.AddConstraint(
            model_name="invitation",
            constraint=models.CheckConstraint(
                condition=(
                    Q(role__in=["enterprise_admin", "auditor"], merchant__isnull=True)
                    & Q(store__isnull=True)
                )
                | Q(role="merchant_manager", merchant__isnull=False, store__isnull=True)
                | Q(role="cashier", store__isnull=False, merchant__isnull=True),
                name="invitation_role_matches_target",
            ),
        ),
    ]
