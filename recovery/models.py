"""Every model of the ``recovery`` app, collected from its capabilities.

Django loads an app's models from ``<app>.models`` and the migrations name ``recovery.models``
(``new_record_id``); the models themselves live in their capability's package
(``docs/architecture.md``). Code inside ``recovery`` imports from the capability, never from here.
"""

from recovery.activity.models import STEPS_MAX, DailySteps, StepSource  # noqa: F401
from recovery.care.models import (  # noqa: F401
    Alert,
    AlertNotification,
    AlertStatus,
    CheckIn,
    Protocol,
    ProtocolApplication,
    ProtocolItem,
    ProtocolItemType,
    ProtocolRecord,
    Tier,
    TriageRule,
)
from recovery.fhir.models import BulkExportJob, ExportLevel, ExportStatus  # noqa: F401
from recovery.outcomes.models import (  # noqa: F401
    QUESTIONNAIRES,
    Instrument,
    MinimalImportantDifference,
    OutcomeScore,
    Timepoint,
)
from recovery.photos.models import ReviewOutcome, WoundPhoto  # noqa: F401
from recovery.preparation.models import (  # noqa: F401
    FINDINGS_BY_MODALITY,
    Complication,
    ComplicationKind,
    FusionStatus,
    HardwareStatus,
    ImagingPurpose,
    ImagingStudy,
    Modality,
    PrepItem,
    PrepKind,
    PrepOwner,
    PrepStatus,
    Severity,
)
from recovery.record.models import (  # noqa: F401
    EXERCISE_KEYS,
    EXERCISE_LIMITS,
    FUTURE_TOLERANCE,
    LEVELS_PATTERN,
    RECORD_ID_PATTERN,
    Activity,
    ActivityRestriction,
    Appointment,
    AppointmentPurpose,
    AppointmentStatus,
    ClinicalRecord,
    DischargeDisposition,
    HospitalStay,
    Imaging,
    LimitUnit,
    LiveManager,
    Medication,
    Milestone,
    MilestoneKind,
    PainLocation,
    PainLog,
    Procedure,
    PTSession,
    PTSetting,
    PTStatus,
    Region,
    Relief,
    RestrictionStatus,
    RevisionReason,
    Surgery,
    new_record_id,
    validate_record_id,
    zero_to_ten,
)
from recovery.sync.models import RejectedRecord, RejectedStatus  # noqa: F401
from recovery.webhooks.models import (  # noqa: F401
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
