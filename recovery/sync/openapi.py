"""OpenAPI description of the sync endpoints, generated from the table registry so the schema
lists every table and column with its wire type. Used for documentation only: the views read
their input with ``protocol``.

The pull's answer depends on ``schema_version`` (``tables.py``: a client on version N gets the
tables and columns whose ``since`` is at most N, all of them, and nothing else), so the schema
gives one body per supported version (``SyncPullResponseV1``...) and the answer is ``anyOf``
them: two versions that differ only by a column give the same body when no row changed, so
``oneOf`` would be false. Each version's ``changes`` and raw records are closed
(``additionalProperties: false``) and list every key as required, which is what the server
sends. The push takes any table and column of any version, each optional.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from .tables import (
    SYNC_TABLES,
    Boolean,
    Codec,
    Column,
    EpochMs,
    ForeignId,
    Integer,
    IsoDate,
    JsonList,
    Number,
    SyncTable,
    Text,
    tables_for,
)

VERSIONS = range(settings.SYNC_SCHEMA_VERSION_MIN, settings.SYNC_SCHEMA_VERSION_MAX + 1)


class ClosedSerializer(serializers.Serializer):
    # A JSON object with exactly the declared keys (``additionalProperties: false``). Each
    # subclass says what it is in its own ``__doc__`` (the schema's description).
    __doc__ = None


class ClosedSerializerExtension(OpenApiSerializerExtension):
    target_class = ClosedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema


def _field(codec: Codec, *, required: bool, allow_null: bool, help_text: str):
    kwargs = {"required": required, "allow_null": allow_null, "help_text": help_text}
    if isinstance(codec, EpochMs):
        return serializers.IntegerField(min_value=0, **kwargs)
    if isinstance(codec, Integer):
        return serializers.IntegerField(**kwargs)
    if isinstance(codec, Number):
        return serializers.FloatField(**kwargs)
    if isinstance(codec, Boolean):
        return serializers.BooleanField(**kwargs)
    if isinstance(codec, IsoDate):
        return serializers.DateField(**kwargs)
    return serializers.CharField(allow_blank=True, **kwargs)


def _note(column: Column) -> str:
    kind = {EpochMs: "epoch milliseconds", JsonList: "a JSON string"}.get(
        type(column.codec), column.codec.wire_type
    )
    note = f"{kind}; since schema v{column.since}"
    if not column.writable:
        note += "; read-only (ignored on push)"
    return note


def _push_accepts_null(codec: Codec) -> bool:
    """``null`` is read as empty for optional text and lists (WatermelonDB sends it)."""
    return (
        codec.nullable
        or isinstance(codec, JsonList | ForeignId)
        or (isinstance(codec, Text) and codec.blank_for_null)
    )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


ID = "1-36 of A-Z a-z 0-9 _ -"


# --- Pull: one body per schema version ------------------------------------------------------


def _columns_version(table: SyncTable, version: int) -> int:
    """The version that last changed what ``table`` sends to a client on ``version``."""
    return max([table.since, *(c.since for c in table.columns_for(version))])


_PULL_RAW: dict[tuple[str, int], type[serializers.Serializer]] = {}


def _pull_changes(table: SyncTable, version: int) -> type[serializers.Serializer]:
    key = (table.name, _columns_version(table, version))
    if key not in _PULL_RAW:
        fields = {"id": serializers.CharField(help_text=ID)}
        for column in table.columns_for(version):
            fields[column.name] = _field(
                column.codec,
                required=True,
                allow_null=column.codec.nullable,
                help_text=_note(column),
            )
        name = f"SyncPull{_camel(table.name)}V{key[1]}"
        fields["__doc__"] = f"A `{table.name}` row as pulled with schema version {key[1]}+."
        raw = type(f"{name}RawSerializer", (ClosedSerializer,), fields)
        _PULL_RAW[key] = type(
            f"{name}ChangesSerializer",
            (ClosedSerializer,),
            {
                "__doc__": f"What changed in `{table.name}` since the last pull.",
                "created": serializers.ListField(
                    child=raw(), max_length=0, help_text="Always empty: every row is `updated`."
                ),
                "updated": raw(many=True, help_text="Every live row changed since the last pull."),
                "deleted": serializers.ListField(
                    child=serializers.CharField(), help_text="Ids of rows deleted since then."
                ),
            },
        )
    return _PULL_RAW[key]


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


def _pull_response(version: int) -> type[serializers.Serializer]:
    changes = type(
        f"SyncPullChangesV{version}Serializer",
        (ClosedSerializer,),
        {
            "__doc__": f"Every table of schema version {version}, and no other.",
            **{table.name: _pull_changes(table, version)() for table in tables_for(version)},
        },
    )
    return type(
        f"SyncPullResponseV{version}Serializer",
        (serializers.Serializer,),
        {
            "__doc__": f"The answer to a pull with `schema_version={version}`.",
            "changes": changes(),
            "timestamp": serializers.IntegerField(help_text="Send as last_pulled_at next time."),
            "rejected": PulledRefusalSerializer(
                many=True,
                required=False,
                help_text="Records refused since last_pulled_at (the changes carry the server's "
                "truth for each id); WatermelonDB hands this key to onDidPullChanges. On the last "
                "page of a paged pull.",
            ),
            "cursor": serializers.CharField(
                required=False,
                allow_null=True,
                help_text="Paged pulls only: send it back for the next page; null after the last page.",
            ),
        },
    )


PULL_BY_VERSION = {version: _pull_response(version) for version in VERSIONS}


class PullResponse(serializers.Serializer):
    """The pull's answer: the body of the client's schema version (``anyOf``, see above)."""


class PullResponseExtension(OpenApiSerializerExtension):
    target_class = PullResponse

    def get_name(self, auto_schema, direction):
        return "SyncPullResponse"

    def map_serializer(self, auto_schema, direction):
        return {
            "description": "The body of the `schema_version` asked for.",
            "anyOf": [
                auto_schema.resolve_serializer(body, direction).ref
                for body in PULL_BY_VERSION.values()
            ],
        }


# --- Push: any table and column, each optional -------------------------------------------------


def _push_changes(table: SyncTable) -> type[serializers.Serializer]:
    fields = {
        "id": serializers.CharField(help_text=ID),
        "_status": serializers.CharField(required=False, help_text="WatermelonDB's; ignored."),
        "_changed": serializers.CharField(required=False, help_text="WatermelonDB's; ignored."),
    }
    for column in table.columns:
        fields[column.name] = _field(
            column.codec,
            required=False,
            allow_null=_push_accepts_null(column.codec) or not column.writable,
            help_text=_note(column),
        )
    name = f"SyncPush{_camel(table.name)}"
    fields["__doc__"] = f"A `{table.name}` row as the app pushes it (any schema version)."
    raw = type(f"{name}RawSerializer", (ClosedSerializer,), fields)
    return type(
        f"{name}ChangesSerializer",
        (ClosedSerializer,),
        {
            "__doc__": f"The app's changes to `{table.name}`.",
            "created": raw(many=True, required=False, help_text="An existing id updates it."),
            "updated": raw(many=True, required=False, help_text="An unknown id creates it."),
            "deleted": serializers.ListField(
                child=serializers.CharField(), required=False, help_text="Unknown ids: ignored."
            ),
        },
    )


PushRequest = type(
    "SyncPushRequestSerializer",
    (ClosedSerializer,),
    {
        "__doc__": "WatermelonDB's changes: any table of any version; each one optional.",
        **{name: _push_changes(table)(required=False) for name, table in SYNC_TABLES.items()},
    },
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
