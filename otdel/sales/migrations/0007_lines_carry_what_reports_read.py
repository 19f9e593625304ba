"""A shipment is credited to the client's owner when it was shipped (no longer to whoever owns
the client now), and every shipment line carries what the revenue-and-margin report groups by
(team, date, currency, the person credited, the category), copied when it is written: the report
reads the lines alone, from one covering index.

Existing rows are filled set-based: the owner at each shipment's date from the ownership ledger
(the rule of `otdel.ownership.ledger.owners_then`), a return or correction taking its
original's; the category of each line is its product's now (its original line's for a return).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# The owner at the shipment's moment: the last ledger change at or before it names who got the
# client; with none, the first later change names who had it; with no change, the owner now.
OWNER_AT_SHIPMENT = """
UPDATE sales_shipment SET owner_id = CASE
    WHEN EXISTS (SELECT 1 FROM ownership_ownershipevent e
                 WHERE e.client_id = sales_shipment.client_id AND e.kind <> 'warning'
                   AND e.at <= sales_shipment.shipped_at)
    THEN (SELECT e.to_user_id FROM ownership_ownershipevent e
          WHERE e.client_id = sales_shipment.client_id AND e.kind <> 'warning'
            AND e.at <= sales_shipment.shipped_at
          ORDER BY e.at DESC, e.id DESC LIMIT 1)
    WHEN EXISTS (SELECT 1 FROM ownership_ownershipevent e
                 WHERE e.client_id = sales_shipment.client_id AND e.kind <> 'warning')
    THEN (SELECT e.from_user_id FROM ownership_ownershipevent e
          WHERE e.client_id = sales_shipment.client_id AND e.kind <> 'warning'
          ORDER BY e.at, e.id LIMIT 1)
    ELSE (SELECT c.owner_id FROM clients_client c WHERE c.id = sales_shipment.client_id)
END
WHERE kind = 'original'
"""

STATEMENTS = [
    OWNER_AT_SHIPMENT,
    """UPDATE sales_shipment SET owner_id = o.owner_id
       FROM sales_shipment o
       WHERE o.id = sales_shipment.original_id AND sales_shipment.kind <> 'original'""",
    """UPDATE sales_shipmentline
       SET team_id = s.team_id, shipped_at = s.shipped_at, currency = s.currency,
           owner_id = s.owner_id
       FROM sales_shipment s WHERE s.id = sales_shipmentline.shipment_id""",
    """UPDATE sales_shipmentline SET category_id = p.category_id
       FROM sales_product p WHERE p.id = sales_shipmentline.product_id""",
    """UPDATE sales_shipmentline SET category_id = o.category_id
       FROM sales_shipmentline o WHERE o.id = sales_shipmentline.original_line_id""",
]


def fill(apps, schema_editor):
    for statement in STATEMENTS:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("ownership", "0003_lean_indexes"),
        ("people", "0001_initial"),
        ("sales", "0006_shipment_line_covering_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="shipment",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="credited to",
            ),
        ),
        migrations.AddField(
            model_name="shipmentline",
            name="team",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="people.team",
            ),
        ),
        migrations.AddField(
            model_name="shipmentline",
            name="shipped_at",
            field=models.DateTimeField(null=True, verbose_name="shipped at"),
        ),
        migrations.AddField(
            model_name="shipmentline",
            name="currency",
            field=models.CharField(default="RUB", max_length=3, verbose_name="currency"),
        ),
        migrations.AddField(
            model_name="shipmentline",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="credited to",
            ),
        ),
        migrations.AddField(
            model_name="shipmentline",
            name="category",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="sales.productcategory",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="shipmentline",
            name="team",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="people.team",
            ),
        ),
        migrations.AlterField(
            model_name="shipmentline",
            name="shipped_at",
            field=models.DateTimeField(verbose_name="shipped at"),
        ),
        migrations.AlterField(
            model_name="shipmentline",
            name="category",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="sales.productcategory",
            ),
        ),
        migrations.RemoveIndex(model_name="shipmentline", name="shipmentline_shipment_cover"),
        migrations.AddIndex(
            model_name="shipmentline",
            index=models.Index(fields=["shipment"], name="shipmentline_shipment"),
        ),
        migrations.AddIndex(
            model_name="shipmentline",
            index=models.Index(
                fields=["team", "shipped_at"],
                include=("owner", "category", "currency", "revenue", "cost", "margin"),
                name="shipmentline_report",
            ),
        ),
        migrations.AddIndex(
            model_name="shipmentline",
            index=models.Index(fields=["owner", "shipped_at"], name="shipmentline_owner_at"),
        ),
    ]
