"""Make the audit log append-only in the database itself.

UPDATE is always refused. DELETE is refused unless the transaction has set
``audit.retention_days`` (only ``audit.services.purge_before`` does) to at least 180 and the row
is older than that. On SQLite (the embedded default) UPDATE and DELETE are refused outright.
"""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
DECLARE
    retention integer;
BEGIN
    IF TG_OP = 'DELETE' THEN
        retention := NULLIF(current_setting('audit.retention_days', true), '')::integer;
        IF retention IS NULL THEN
            RAISE EXCEPTION 'audit events are append-only: DELETE outside the retention purge'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF retention < 180 THEN
            RAISE EXCEPTION 'audit retention purge refused: % days is under the 180-day minimum', retention
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF OLD.occurred_at >= now() - make_interval(days => retention) THEN
            RAISE EXCEPTION 'audit retention purge refused: event % is newer than % days', OLD.id, retention
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_append_only();
"""

SQLITE_CREATE = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END;""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_event_no_update;"]


def _run(schema_editor, sql):
    # A plain cursor: the function body holds % placeholders of its own (RAISE messages).
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _run(schema_editor, PG_CREATE)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _run(schema_editor, PG_DROP)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
