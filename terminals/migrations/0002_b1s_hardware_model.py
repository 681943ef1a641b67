from django.db import migrations


def add_b1s(apps, schema_editor):
    HardwareModel = apps.get_model("terminals", "HardwareModel")
    HardwareModel.objects.get_or_create(
        code="WST01",
        defaults={
            "name": "B1s dual-screen offline payment terminal",
            "dual_screen": True,
            "scanner": True,
            "links": ["usb", "otg", "bluetooth"],
        },
    )


class Migration(migrations.Migration):
    dependencies = [("terminals", "0001_initial")]

    operations = [migrations.RunPython(add_b1s, migrations.RunPython.noop)]
