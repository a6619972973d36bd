"""Devices (push tokens) and the in-app inbox. Devices: patients and caregivers; the inbox: patients only (staff and caregivers get 403); another patient's
notification id is a 404 (every lookup starts from the caller's scope)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.openapi import errors
from config.api.pagination import CursorPagination

from .. import selectors, services
from ..models import ID_VALIDATOR

ID_PATTERN = ID_VALIDATOR.regex
from . import serializers as s


class IsPatient(BasePermission):
    message = "Only patients have devices and an inbox."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_patient)


class IsPatientOrCaregiver(BasePermission):
    message = "Only patients and caregivers register phones here (clinicians: /staff-devices/)."

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user and user.is_authenticated and (user.is_patient or user.role == "caregiver")
        )


def _is_caregiver(user) -> bool:
    return user.role == "caregiver"


class DevicesView(APIView):
    """Register (POST) or remove (DELETE) a push token of the signed-in patient's phone, or of
    a caregiver's phone (the patient's reminders reach it while their grant carries the
    ``reminders`` scope)."""

    permission_classes = [IsAuthenticated, IsPatientOrCaregiver]

    @extend_schema(
        summary="The patient's (or the caregiver's) registered phones",
        responses={200: s.DeviceOutput(many=True)},
    )
    def get(self, request):
        devices = selectors.devices_for(request.user).order_by("-created_at", "-id")
        return Response(s.DeviceOutput(devices, many=True).data)

    @extend_schema(
        summary="Register a phone's push token",
        request=s.DeviceInput,
        responses={
            200: OpenApiResponse(s.DeviceOutput, description="Already registered."),
            201: OpenApiResponse(s.DeviceOutput, description="Registered."),
        },
    )
    def post(self, request):
        data = s.DeviceInput(data=request.data)
        data.is_valid(raise_exception=True)
        if _is_caregiver(request.user):
            device, created = services.staff_device_register(
                user=request.user, **data.validated_data
            )
        else:
            device, created = services.device_register(
                patient=request.user.patient_profile, **data.validated_data
            )
        return Response(
            s.DeviceOutput(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Remove a phone's push token",
        request=s.DeviceRemoveInput,
        responses={204: None, **errors(404, s404="No such device of yours.")},
    )
    def delete(self, request):
        data = s.DeviceRemoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        token = data.validated_data["token"]
        if _is_caregiver(request.user):
            removed = services.staff_device_remove(user=request.user, token=token)
        else:
            removed = services.device_remove(patient=request.user.patient_profile, token=token)
        if not removed:
            raise NotFound("No such device.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class StaffDevicesView(APIView):
    """Clinicians register (POST) or remove (DELETE) a phone for urgent red-flag alerts."""

    @extend_schema(
        summary="Register a clinician's phone for urgent alerts",
        request=s.DeviceInput,
        responses={
            200: OpenApiResponse(s.DeviceOutput, description="Already registered."),
            201: OpenApiResponse(s.DeviceOutput, description="Registered."),
            **errors(403, s403="Patients register their phones at /api/v1/devices/."),
        },
        operation_id="staff_device_register",
    )
    def post(self, request):
        data = s.DeviceInput(data=request.data)
        data.is_valid(raise_exception=True)
        device, created = services.staff_device_register(user=request.user, **data.validated_data)
        return Response(
            s.DeviceOutput(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Remove a clinician's phone",
        request=s.DeviceRemoveInput,
        responses={204: None, **errors(404, s404="No such device of yours.")},
        operation_id="staff_device_remove",
    )
    def delete(self, request):
        data = s.DeviceRemoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        if not services.staff_device_remove(user=request.user, token=data.validated_data["token"]):
            raise NotFound("No such device.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class NotificationListView(ListAPIView):
    """The inbox, newest first. ``?unread=true`` lists only unread ones."""

    permission_classes = [IsAuthenticated, IsPatient]
    serializer_class = s.NotificationOutput
    pagination_class = NotificationPagination
    filter_backends: list = []

    @extend_schema(
        summary="The in-app inbox, newest first",
        parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, required=False)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = selectors.notifications_for(self.request.user)
        if self.request.query_params.get("unread") in ("true", "1"):
            qs = qs.filter(read_at__isnull=True)
        return qs


def _own_notification(request, pk):
    """Looks the id up in the caller's inbox only; a malformed id is simply not there."""
    if not ID_PATTERN.match(pk or ""):
        raise NotFound("No such notification.")
    return get_object_or_404(selectors.notifications_for(request.user), pk=pk)


class NotificationDetailView(APIView):
    permission_classes = [IsAuthenticated, IsPatient]

    @extend_schema(summary="One notification", responses={200: s.NotificationOutput})
    def get(self, request, pk):
        note = _own_notification(request, pk)
        return Response(s.NotificationOutput(note).data)

    @extend_schema(summary="Delete a notification", responses={204: None})
    def delete(self, request, pk):
        note = _own_notification(request, pk)
        services.notification_delete(notification=note)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationReadView(APIView):
    permission_classes = [IsAuthenticated, IsPatient]

    @extend_schema(
        summary="Mark a notification read", request=None, responses={200: s.NotificationOutput}
    )
    def post(self, request, pk):
        note = _own_notification(request, pk)
        return Response(
            s.NotificationOutput(services.notification_mark_read(notification=note)).data
        )
