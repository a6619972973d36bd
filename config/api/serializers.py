from rest_framework import serializers


class StrictFieldsMixin:
    """Reject fields the serializer does not know, instead of silently dropping them.

    A misspelt or forbidden field (a patient sending ``surgeon``) is a clear 400, never a write
    that quietly ignored part of the request.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {
                name for name, field in self.fields.items() if not field.read_only
            }
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is not accepted here."] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass
