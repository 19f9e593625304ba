"""Dropping the foreign keys migrations 0008–0010 replace with set-based checks (PostgreSQL).
Not a migration (the loader skips names starting with an underscore)."""

from __future__ import annotations

from typing import Any


def drop_foreign_keys(schema_editor: Any, table: str, column: str, parent: str = "") -> None:
    """Drop every foreign-key constraint on table.column (only those to `parent`, if given)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.conname FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND a.attname = %s
                 AND (%s = '' OR c.confrelid = NULLIF(%s, '')::regclass)""",
            [table, column, parent, parent],
        )
        for (name,) in cursor.fetchall():
            schema_editor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
