"""A call's verdict no longer stores the policy version that gave it: the version is the one
in force when the call started (Call.verdict_policy derives it), so a new version re-writes only
the calls whose verdict, measure or reasons change (it used to re-write every call it covered,
the version id being new).

On PostgreSQL the set-based reference checks of 0008 lose the column: the calls' insert check
no longer lists it, the statement check on every update of calls (it checked only this column)
goes, and deleting a policy version no longer looks for calls.

And the statement check of 0008 steps aside for a writer that has made its references safe by
a lock (the ingestion, otdel.activities.ingest_sql): one that took ROW EXCLUSIVE on the calls
tables *before* reading the rows it references, in READ COMMITTED, and says so for its own
statement (the transaction-local setting otdel.refs_locked). A delete of such a row checks at
commit under a SHARE lock on the calls tables, which waits for that writer to commit and then
sees its rows (the delete fails); a delete whose check ran first holds the SHARE lock until it
commits, so the writer, waiting for its lock, reads the rows afterwards and no longer sees it.
Checking again what was just read under that lock cost a third of the ingestion's insert.
"""

import importlib

from django.db import migrations

from otdel.activities.migrations._foreign_keys import drop_foreign_keys

REFS_WRITTEN = r"""
-- Statement trigger: every value of each column (TG_ARGV: column, parent pairs) among the rows
-- the statement wrote (new_rows, visible only in this function) must exist in its parent;
-- unless the writer read them under a lock that a delete's check waits for (otdel.refs_locked,
-- set for one statement of a READ COMMITTED transaction holding ROW EXCLUSIVE on the calls
-- tables since before it read them: migration activities 0009).
CREATE OR REPLACE FUNCTION otdel_refs_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i int;
    col text;
    parent text;
    missing bigint;
    strict_mode boolean := current_setting('transaction_isolation') <> 'read committed';
BEGIN
    IF NOT strict_mode AND current_setting('otdel.refs_locked', true) = 'on' THEN
        RETURN NULL;
    END IF;
    FOR i IN 0 .. TG_NARGS / 2 - 1 LOOP
        col := TG_ARGV[2 * i];
        parent := TG_ARGV[2 * i + 1];
        IF strict_mode THEN
            -- As a foreign key does: the lock fails if another transaction deleted the row.
            EXECUTE format(
                'SELECT count(*) FROM (SELECT 1 FROM %I p WHERE p.id IN'
                ' (SELECT %I FROM new_rows WHERE %I IS NOT NULL) FOR KEY SHARE OF p) q',
                parent, col, col);
        END IF;
        EXECUTE format(
            'SELECT n.v FROM (SELECT DISTINCT %I AS v FROM new_rows WHERE %I IS NOT NULL) n'
            ' WHERE NOT EXISTS (SELECT 1 FROM %I p WHERE p.id = n.v) LIMIT 1',
            col, col, parent) INTO missing;
        IF missing IS NOT NULL THEN
            PERFORM otdel_ref_violation(TG_TABLE_NAME::text, col, parent, missing);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
"""

CALL_INSERT_REFS = [
    ("user_id", "people_user"),
    ("client_id", "clients_client"),
    ("contact_id", "clients_contact"),
    ("activity_id", "activities_activity"),
]


def _quote(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"'{v}'" for pair in pairs for v in pair)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    run(REFS_WRITTEN, None)  # no parameters: the % signs are the function's own
    run("DROP TRIGGER IF EXISTS otdel_refs_inserted ON activities_call")
    run(
        "CREATE TRIGGER otdel_refs_inserted AFTER INSERT ON activities_call"
        " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
        f" EXECUTE FUNCTION otdel_refs_written({_quote(CALL_INSERT_REFS)})"
    )
    run("DROP TRIGGER IF EXISTS otdel_refs_updated ON activities_call")
    run("DROP TRIGGER IF EXISTS otdel_ref_guard ON activities_effectivecallpolicy")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    policy = [("verdict_policy_id", "activities_effectivecallpolicy")]
    previous = importlib.import_module("otdel.activities.migrations.0008_set_based_call_references")
    run(previous.FUNCTIONS, None)
    run("DROP TRIGGER IF EXISTS otdel_refs_inserted ON activities_call")
    run(
        "CREATE TRIGGER otdel_refs_inserted AFTER INSERT ON activities_call"
        " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
        f" EXECUTE FUNCTION otdel_refs_written({_quote(CALL_INSERT_REFS + policy)})"
    )
    run(
        "CREATE TRIGGER otdel_refs_updated AFTER UPDATE ON activities_call"
        " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
        f" EXECUTE FUNCTION otdel_refs_written({_quote(policy)})"
    )
    run(
        "CREATE CONSTRAINT TRIGGER otdel_ref_guard AFTER DELETE OR UPDATE OF id"
        " ON activities_effectivecallpolicy DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
        " EXECUTE FUNCTION otdel_ref_guard('activities_call', 'verdict_policy_id')"
    )


def drop_foreign_key(apps, schema_editor):
    """Going back, the column returns without the foreign key 0008 replaced (its checks come
    back with the triggers above)."""
    if schema_editor.connection.vendor == "postgresql":
        drop_foreign_keys(schema_editor, "activities_call", "verdict_policy_id")


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0008_set_based_call_references"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
        migrations.RunPython(migrations.RunPython.noop, drop_foreign_key, elidable=False),
        migrations.RemoveField(model_name="call", name="verdict_policy"),
    ]
