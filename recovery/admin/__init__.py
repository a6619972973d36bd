"""The care team's admin: every capability's pages, the patient page with its timeline, and
the care team's dashboard as the index page.

Django's admin imports ``recovery.admin``; importing the capabilities' ``admin`` modules
registers their pages.
"""

from django.contrib import admin

from recovery.care import admin as care_admin  # noqa: F401
from recovery.outcomes import admin as outcomes_admin  # noqa: F401
from recovery.photos import admin as photos_admin  # noqa: F401
from recovery.preparation import admin as preparation_admin  # noqa: F401
from recovery.record import admin as record_admin  # noqa: F401
from recovery.webhooks import admin as webhooks_admin  # noqa: F401

from . import bulk_exports, patients, rejected  # noqa: F401
from .views import care_dashboard_view

admin.site.dashboard_view = care_dashboard_view
