"""Error bodies for the OpenAPI schema where drf-standardized-errors' generated ones are too narrow.

Its generated 400 lists, per operation, every field and error code a serializer can raise; the
model's own ``full_clean()`` behind the services adds more (``in_future``, ``date_order``,
constraint names...), so endpoints that call services declare this general shape instead: the
same one every error has (``config.api.errors``).
"""

from rest_framework import serializers


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["validation_error", "client_error"])
    errors = ErrorItemSerializer(many=True)

    class Meta:
        ref_name = "ErrorResponse"
