from rest_framework import serializers

from config.api.serializers import StrictSerializer

from ..models import DevicePlatform, Notification


class DeviceInput(StrictSerializer):
    token = serializers.CharField(max_length=4096)
    platform = serializers.ChoiceField(choices=DevicePlatform.choices)


class DeviceRemoveInput(StrictSerializer):
    token = serializers.CharField(max_length=4096)


class DeviceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    platform = serializers.CharField()
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NotificationOutput(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "due_at", "created_at", "updated_at", "read_at"]
        read_only_fields = fields
