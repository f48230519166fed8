from django.db import migrations


def seed(apps, schema_editor):
    from fieldsync.fields.services import catalog_sync

    catalog_sync(mapping_model=apps.get_model("fieldsync", "FieldMapping"))


class Migration(migrations.Migration):
    dependencies = [("fieldsync", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
