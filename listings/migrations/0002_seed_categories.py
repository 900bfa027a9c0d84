from django.db import migrations

from listings.categories import CATEGORIES


def seed(apps, schema_editor):
    Category = apps.get_model("listings", "Category")
    for position, (slug, name, description) in enumerate(CATEGORIES, start=1):
        Category.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position}
        )


class Migration(migrations.Migration):
    dependencies = [("listings", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
