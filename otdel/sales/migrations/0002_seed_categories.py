"""The four product categories every department starts with; the head of sales may rename
them or add more (their codes stay, so pay plans can refer to them)."""

from django.db import migrations
from django.utils import timezone

CATEGORIES = [
    ("equipment", "Оборудование", 10),
    ("spare_parts", "ЗИП (запасные части)", 20),
    ("services", "Услуги", 30),
    ("consumables", "Расходные материалы", 40),
]


def seed(apps, schema_editor):
    ProductCategory = apps.get_model("sales", "ProductCategory")
    now = timezone.now()
    for code, name, position in CATEGORIES:
        ProductCategory.objects.get_or_create(
            code=code,
            defaults={"name": name, "position": position, "created_at": now, "updated_at": now},
        )


def unseed(apps, schema_editor):
    ProductCategory = apps.get_model("sales", "ProductCategory")
    ProductCategory.objects.filter(
        code__in=[c for c, _, _ in CATEGORIES], products__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
