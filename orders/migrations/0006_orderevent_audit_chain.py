"""Order events become a hash chain (orders.audit) and, on PostgreSQL, append-only.

Existing events are chained in id order with the serialisation frozen below (a copy of
orders.audit.canonical as it is today, so that later edits there cannot change this migration).
"""

import hashlib
import json
from datetime import UTC

import django.utils.timezone
from django.db import migrations, models

GENESIS = "0" * 64

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION orders_orderevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'orders_orderevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER orders_orderevent_append_only
    BEFORE UPDATE OR DELETE ON orders_orderevent
    FOR EACH ROW EXECUTE FUNCTION orders_orderevent_append_only();
"""
DROP_APPEND_ONLY_SQL = """
DROP TRIGGER IF EXISTS orders_orderevent_append_only ON orders_orderevent;
DROP FUNCTION IF EXISTS orders_orderevent_append_only();
"""


def _hash(event, prev_hash: str) -> str:
    payload = {
        "order": event.order_id,
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "from": event.from_status,
        "to": event.to_status,
        "reason": event.reason,
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "prev_hash": prev_hash,
    }
    data = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def chain_existing(apps, schema_editor):
    OrderEvent = apps.get_model("orders", "OrderEvent")
    previous = GENESIS
    for event in OrderEvent.objects.order_by("id").iterator(chunk_size=2000):
        event.prev_hash = previous
        event.hash = _hash(event, previous)
        event.save(update_fields=["prev_hash", "hash"])
        previous = event.hash


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL, params=None)


def append_only_undo(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_APPEND_ONLY_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0005_order_renewal_of"),
    ]

    operations = [
        migrations.AlterField(
            model_name="orderevent",
            name="created_at",
            field=models.DateTimeField(
                db_index=True,
                default=django.utils.timezone.now,
                editable=False,
                verbose_name="时间",
            ),
        ),
        migrations.AddField(
            model_name="orderevent",
            name="prev_hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="前一事件哈希"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="orderevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64, verbose_name="哈希"),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="orderevent",
            name="prev_hash",
            field=models.CharField(
                editable=False, max_length=64, unique=True, verbose_name="前一事件哈希"
            ),
        ),
        migrations.AlterField(
            model_name="orderevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, unique=True, verbose_name="哈希"),
        ),
        migrations.RunPython(append_only, append_only_undo),
    ]
