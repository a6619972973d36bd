"""The care team's admin: every capability's pages, and the patient page with its timeline.

Django's admin imports ``recovery.admin``; importing the capabilities' ``admin`` modules
registers their pages.
"""

from recovery.care import admin as care_admin  # noqa: F401
from recovery.outcomes import admin as outcomes_admin  # noqa: F401
from recovery.preparation import admin as preparation_admin  # noqa: F401
from recovery.record import admin as record_admin  # noqa: F401

from . import patients, rejected  # noqa: F401
