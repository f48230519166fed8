"""Serializers of the Outlook client sync API: the batch a client posts (input) and, for the
OpenAPI schema, the pages and results it gets back (the views render plain dicts of that shape).
"""

from __future__ import annotations

from rest_framework import serializers

from fieldsync.client.common import ACTIVITY_TYPES, ENTITIES
from fieldsync.directions import CYCLE

_MAX_VERSION = 2**63 - 1
MAX_BATCH = 500

FIELD_TYPES = ("string", "integer", "boolean", "date", "datetime")
REMOVAL_REASONS = ("deleted", "out_of_scope", "access_lost")
ITEM_STATUSES = (
    "created",
    "updated",
    "unchanged",
    "exists",
    "untracked",
    "restored",
    "not_found",
    "refused",
    "invalid",
)
FIELD_STATUSES = ("applied", "unchanged", "not_synced", "not_permitted", "conflict_lost")


class ClientFieldSerializer(serializers.Serializer):
    column = serializers.CharField(help_text="The CRM column, as records name it.")
    field = serializers.CharField(help_text="The Synchronized fields row it belongs to.")
    type = serializers.ChoiceField(choices=FIELD_TYPES)
    direction = serializers.ChoiceField(choices=[d.value for d in CYCLE])
    sent = serializers.BooleanField(help_text="CRM values of this column come to the client.")
    accepted = serializers.BooleanField(
        help_text="Client values of this column may be applied (direction and field security; "
        "record rights are checked per record)."
    )


class ClientRecordSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.IntegerField(
        help_text="The record's change number: send it back with a change to this record."
    )
    values = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Column -> value, only the columns sent to Outlook that you may read (others "
        "are absent, not null). Dates are YYYY-MM-DD, date-times ISO 8601 in UTC.",
    )
    activity_type = serializers.ChoiceField(
        choices=ACTIVITY_TYPES,
        required=False,
        help_text="Which CRM activity the Outlook item stands for, written on the item as the "
        "server-side sync writes it (a named property) and kept through edits: phone calls, "
        'letters and faxes are Outlook tasks, service activities appointments; "" for a plain '
        "task or appointment. Absent for contacts.",
    )


class ClientRemovalSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    reason = serializers.ChoiceField(
        choices=REMOVAL_REASONS,
        help_text="deleted in the CRM; out_of_scope: left the sync filter or the Sync "
        "privilege; access_lost: you may no longer read it.",
    )


class ClientChangesOutputSerializer(serializers.Serializer):
    entity = serializers.CharField()
    fields = ClientFieldSerializer(many=True)
    records = ClientRecordSerializer(many=True)
    removed = ClientRemovalSerializer(many=True, help_text="Records the client must drop.")
    next_cursor = serializers.CharField(
        help_text="Opaque; send it as ?cursor= for the next page, or the next sync."
    )
    has_more = serializers.BooleanField(help_text="Ask again at once with next_cursor.")


class ClientChangeInputSerializer(serializers.Serializer):
    ref = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="The client's own name for the item (file name, item id); echoed in the "
        "result. Required for a new record: a retry of its creation finds it again.",
    )
    id = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="Absent for a new record."
    )
    version = serializers.IntegerField(
        min_value=0,
        max_value=_MAX_VERSION,
        required=False,
        allow_null=True,
        default=None,
        help_text="The record's version (change number) the client last saw.",
    )
    values = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        default=dict,
        help_text="Column -> new value, only the columns changed in the client.",
    )
    deleted = serializers.BooleanField(
        default=False, help_text="Deleted in the client (the CRM record is never deleted)."
    )
    modified_on = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="When it was edited locally."
    )
    activity_type = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text="The activity type the Outlook item carries (as pulled). It decides which "
        "record the item is, whatever endpoint it is posted to within its folder: a task item "
        'with phone_call, letter or fax is that activity, one with "" (or a type of another '
        "folder) a plain task; a calendar item with service_activity is a service activity, "
        "which is never written into the CRM (refused per item: service activities go from "
        "the CRM to Outlook only). Absent: the endpoint's own entity.",
    )


class ClientBatchInputSerializer(serializers.Serializer):
    cursor = serializers.CharField(
        max_length=4000,
        required=False,
        allow_blank=True,
        default="",
        help_text="The client's latest cursor: needed for deletions (the record stops syncing "
        "to this client).",
    )
    changes = serializers.ListField(
        child=ClientChangeInputSerializer(), min_length=1, max_length=MAX_BATCH
    )


class ClientFieldResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=FIELD_STATUSES,
        help_text="not_synced: the direction does not take Outlook values; not_permitted: "
        "you may not change it (recorded as a rejected change); conflict_lost: the CRM "
        "changed it too and the organization's conflict policy kept the CRM value.",
    )
    reason = serializers.CharField(required=False)
    conflict = serializers.BooleanField(
        required=False, help_text="Recorded as a conflict (see /api/v1/conflicts/)."
    )


class ClientItemErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ClientItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in `changes`.")
    ref = serializers.CharField(allow_blank=True)
    entity = serializers.ChoiceField(
        choices=ENTITIES, help_text="The record type the item was taken as (see activity_type)."
    )
    id = serializers.UUIDField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=ITEM_STATUSES)
    version = serializers.IntegerField(required=False)
    fields = serializers.DictField(
        child=ClientFieldResultSerializer(), required=False, help_text="Per column sent."
    )
    record = ClientRecordSerializer(
        required=False, help_text="The record now: what the client should hold."
    )
    error = ClientItemErrorSerializer(required=False)


class ClientBatchOutputSerializer(serializers.Serializer):
    entity = serializers.CharField()
    results = ClientItemResultSerializer(many=True)
