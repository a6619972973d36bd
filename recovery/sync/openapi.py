"""OpenAPI description of the sync endpoints, generated from the table registry so the schema
lists every table and column with its wire type. Used for documentation only: the views read
their input with ``protocol``."""

from rest_framework import serializers

from .tables import SYNC_TABLES, Boolean, Codec, EpochMs, Integer, Number, SyncTable

_FIELD_FOR = {
    Boolean: serializers.BooleanField,
    Integer: serializers.IntegerField,
    EpochMs: serializers.IntegerField,
    Number: serializers.FloatField,
}


def _column_field(codec: Codec, writable: bool, help_text: str) -> serializers.Field:
    field_class = _FIELD_FOR.get(type(codec), serializers.CharField)
    return field_class(required=False, allow_null=True, help_text=help_text)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _raw_serializer(table: SyncTable) -> type[serializers.Serializer]:
    fields = {"id": serializers.CharField(help_text="1-36 of A-Z a-z 0-9 _ -")}
    for column in table.columns:
        kind = {EpochMs: "epoch milliseconds"}.get(type(column.codec), column.codec.wire_type)
        note = f"{kind}; since schema v{column.since}"
        if not column.writable:
            note += "; read-only (ignored on push)"
        fields[column.name] = _column_field(column.codec, column.writable, note)
    return type(f"Sync{_camel(table.name)}RawSerializer", (serializers.Serializer,), fields)


def _changes_serializer(table: SyncTable) -> type[serializers.Serializer]:
    raw = _raw_serializer(table)
    fields = {
        "created": raw(many=True, required=False, help_text="Always empty on pull."),
        "updated": raw(many=True, required=False),
        "deleted": serializers.ListField(child=serializers.CharField(), required=False),
    }
    return type(f"Sync{_camel(table.name)}ChangesSerializer", (serializers.Serializer,), fields)


_CHANGES = {name: _changes_serializer(table) for name, table in SYNC_TABLES.items()}

PushRequest = type(
    "SyncPushRequestSerializer",
    (serializers.Serializer,),
    {name: changes(required=False) for name, changes in _CHANGES.items()},
)
_PullChanges = type(
    "SyncPullChangesSerializer",
    (serializers.Serializer,),
    {name: changes() for name, changes in _CHANGES.items()},
)


class SyncErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class RefusedRecordSerializer(serializers.Serializer):
    """A pushed record the server refused and kept (docs/sync.md, "Refused records")."""

    table = serializers.CharField()
    id = serializers.CharField()
    errors = SyncErrorSerializer(many=True, help_text="Why, in the API's error shape.")


class PulledRefusalSerializer(RefusedRecordSerializer):
    rejected_at = serializers.IntegerField(help_text="epoch milliseconds")


class PullResponse(serializers.Serializer):
    changes = _PullChanges()
    timestamp = serializers.IntegerField(help_text="Send as last_pulled_at next time.")
    rejected = PulledRefusalSerializer(
        many=True,
        help_text="Records refused since last_pulled_at (the changes carry the server's truth "
        "for each id); WatermelonDB hands this key to onDidPullChanges.",
    )


class PushResponse(serializers.Serializer):
    ok = serializers.BooleanField()
    rejected = RefusedRecordSerializer(
        many=True, help_text="The records refused and kept; everything else was applied."
    )


class SyncErrorResponse(serializers.Serializer):
    """The one error shape; ``attr`` is ``<table>.<id>.<column>`` for a record's value."""

    type = serializers.CharField()
    errors = SyncErrorSerializer(many=True)
    tables = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="403: the tables you may not write.",
    )
    supported_schema_versions = serializers.DictField(
        child=serializers.IntegerField(), required=False, help_text="400: {min, max}."
    )


class ConflictResponse(serializers.Serializer):
    type = serializers.CharField()
    errors = SyncErrorSerializer(many=True)
    conflicts = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Conflicting ids by table.",
    )


class TooLargeResponse(serializers.Serializer):
    type = serializers.CharField()
    errors = SyncErrorSerializer(many=True)
    max_bytes = serializers.IntegerField(required=False)
    max_records = serializers.IntegerField(required=False)
