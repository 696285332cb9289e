"""Monitor a deployed model against the lots released since training and their assay outcomes.

Three questions per model version and time window:

1. **Performance** on the lots whose potency assay is back (``performance``): AUROC against the
   cross-validated interval of training, calibration, the band decisions' error rates.
2. **Drift** of the inputs against the reference stored in the model at training
   (``reference``, ``drift``): every metadata column and every protein the model reads,
   Benjamini-Hochberg within each family; lots without an outcome count here.
3. **Accounting** over time (``run``): lots in = monitored + quarantined, failed MS runs, the
   domain score's trend.

The verdict (``verdict``) applies the alarm rule of ``configs/monitor.yaml``; ``result`` holds
what was found (``MonitorResult``, monitor.json); ``lot_sheet`` reads outcomes and dates.
"""

from exostab.monitor.lot_sheet import (
    DEFAULT_DATE_COLUMN,
    DEFAULT_WINDOW,
    check_monitor_columns,
    checked_window,
)
from exostab.monitor.reference import MonitorReference, attach_reference, bundle_reference
from exostab.monitor.result import MonitorResult
from exostab.monitor.run import monitor_lots
from exostab.monitor.verdict import (
    COMPONENTS,
    Check,
    alarm_reasons,
    holm,
    judge,
    scope_checks,
    verdict_line,
)

__all__ = [
    "COMPONENTS",
    "DEFAULT_DATE_COLUMN",
    "DEFAULT_WINDOW",
    "Check",
    "MonitorReference",
    "MonitorResult",
    "alarm_reasons",
    "attach_reference",
    "bundle_reference",
    "check_monitor_columns",
    "checked_window",
    "holm",
    "judge",
    "monitor_lots",
    "scope_checks",
    "verdict_line",
]
