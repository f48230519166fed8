"""Fill BusinessUnit.path for units created before the column existed."""

from django.db import migrations


def fill_paths(apps, schema_editor):
    BusinessUnit = apps.get_model("security", "BusinessUnit")
    parent_of = dict(BusinessUnit.objects.values_list("pk", "parent_id"))
    paths: dict[int, str] = {}

    def path(pk: int) -> str:
        if pk not in paths:
            parent = parent_of[pk]
            paths[pk] = (path(parent) if parent else "/") + f"{pk}/"
        return paths[pk]

    for pk in parent_of:
        BusinessUnit.objects.filter(pk=pk).update(path=path(pk))


class Migration(migrations.Migration):
    dependencies = [("security", "0002_roles_sharing_field_security")]
    operations = [migrations.RunPython(fill_paths, migrations.RunPython.noop)]
