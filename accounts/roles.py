"""Who a signed-in user is to the admin: their role, staff membership, clinic admin."""

from .models import Role


def role_of(user) -> str | None:
    """The user's role, or None for anonymous users."""
    return getattr(user, "role", None) if user.is_authenticated else None


def is_staff_member(user) -> bool:
    return (
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and (user.is_superuser or role_of(user) != Role.PATIENT)
    )


def is_clinic_admin(user) -> bool:
    return is_staff_member(user) and (user.is_superuser or role_of(user) == Role.CLINIC_ADMIN)
