"""Who else must act when a patient changes their settings.

``accounts`` imports nothing of the other apps (design.md section 1), yet a new time zone must
re-plan the patient's pending reminders. Apps that care name a function in
``settings.PATIENT_SETTINGS_CHANGED_HOOKS``; it is called inside the same transaction as the
change, with keyword arguments ``profile`` and ``changed`` (a set of field names).
"""

from django.conf import settings
from django.utils.module_loading import import_string


def patient_settings_changed(*, profile, changed: set) -> None:
    if not changed:
        return
    for path in getattr(settings, "PATIENT_SETTINGS_CHANGED_HOOKS", ()):
        import_string(path)(profile=profile, changed=changed)
