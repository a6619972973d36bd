from importlib import import_module

from django.apps import AppConfig

# Each capability's description of its tables for the write path, lowest first
# (docs/architecture.md): importing them registers every RecordKind and write hook.
CAPABILITY_KINDS = (
    "recovery.record.kinds",
    "recovery.outcomes.kinds",
    "recovery.preparation.kinds",
    "recovery.activity.kinds",
    "recovery.photos.kinds",
    "recovery.care.kinds",
    "recovery.webhooks.kinds",  # an edge: the events other capabilities' writes cause
)


class RecoveryConfig(AppConfig):
    name = "recovery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in CAPABILITY_KINDS:
            import_module(module)
        writes = import_module("recovery.record.writes")
        writes.registry_in_order(
            tuple(module.removesuffix(".kinds") for module in CAPABILITY_KINDS)
        )
