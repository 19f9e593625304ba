"""A call from the phone system is its own timeline entry: the copy of it kept as an activity
(one more row and four more index entries for every call stored) goes. A call a person logs by
hand keeps its activity (his subject and notes), so the link stays, optional and unique only
where it is set (calls without one write no index entry).

On PostgreSQL the link's foreign key stays replaced by the set-based checks of 0008: if the
field's change brings the constraint back, it is dropped again.
"""

from django.db import migrations, models

from otdel.activities.migrations._foreign_keys import drop_foreign_keys

# The timeline entries the ingestion wrote for phone-system calls (self-reported calls' entries
# are what the person typed: kept).
DETACH = """UPDATE activities_call SET activity_id = NULL WHERE activity_id IN
    (SELECT id FROM activities_activity WHERE kind = 'call' AND NOT self_reported)"""
DELETE = "DELETE FROM activities_activity WHERE kind = 'call' AND NOT self_reported"

# Going back: the entries are written again from the calls, as the ingestion wrote them.
RESTORE = """INSERT INTO activities_activity (client_id, author_id, kind, occurred_at, direction,
        talk_seconds, subject, body, source, external_id, self_reported, created_at)
    SELECT client_id, user_id, 'call', started_at,
        CASE WHEN direction = 'internal' THEN '' ELSE direction END, talk_seconds,
        disposition, '', source, external_id, false, created_at
    FROM activities_call WHERE client_id IS NOT NULL AND NOT self_reported"""
RELINK = """UPDATE activities_call SET activity_id = (SELECT a.id FROM activities_activity a
        WHERE a.source = activities_call.source AND a.external_id = activities_call.external_id)
    WHERE client_id IS NOT NULL AND NOT self_reported"""


def detach(apps, schema_editor):
    schema_editor.execute(DETACH)
    schema_editor.execute(DELETE)


def restore(apps, schema_editor):
    schema_editor.execute(RESTORE)
    schema_editor.execute(RELINK)


def drop_foreign_key(apps, schema_editor):
    """0008 checks the link set-based; a foreign key the field's change added goes again."""
    if schema_editor.connection.vendor == "postgresql":
        drop_foreign_keys(schema_editor, "activities_call", "activity_id")


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0009_verdict_policy_derived"),
    ]

    operations = [
        migrations.RunPython(detach, restore, elidable=False),
        migrations.AlterField(
            model_name="call",
            name="activity",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="logged_calls",
                to="activities.activity",
            ),
        ),
        migrations.RunPython(drop_foreign_key, drop_foreign_key, elidable=False),
        migrations.AddConstraint(
            model_name="call",
            constraint=models.UniqueConstraint(
                condition=models.Q(activity__isnull=False),
                fields=("activity",),
                name="call_logged_activity_unique",
            ),
        ),
    ]
