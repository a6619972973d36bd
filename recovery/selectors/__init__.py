from .records import (  # noqa: F401
    current_surgeries,
    current_surgery,
    next_appointment,
    post_op_day,
    record_get,
    records_for,
    restriction_status,
)
