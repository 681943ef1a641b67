"""Composite foreign keys that keep enterprise_id consistent, and the append-only audit table."""

from django.db import migrations

from tenancy.constraints import append_only, tenant_foreign_key


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]

    operations = [
        tenant_foreign_key("tenancy_store", "merchant_id", "tenancy_merchant"),
        tenant_foreign_key("tenancy_membership", "merchant_id", "tenancy_merchant"),
        tenant_foreign_key("tenancy_membership", "store_id", "tenancy_store"),
        tenant_foreign_key("tenancy_invitation", "merchant_id", "tenancy_merchant"),
        tenant_foreign_key("tenancy_invitation", "store_id", "tenancy_store"),
        tenant_foreign_key("tenancy_apikey", "merchant_id", "tenancy_merchant"),
        tenant_foreign_key("tenancy_merchantdocument", "merchant_id", "tenancy_merchant"),
        append_only("tenancy_auditentry"),
    ]
