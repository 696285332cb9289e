"""The scales a protein file may be declared on (``raw``, ``log2``) and values that contradict
the declared one."""

from __future__ import annotations

import numpy as np
import pandas as pd

LOG_SCALE_MAX = 50.0

SCALES = ("raw", "log2")


def scale_problem(intensities: pd.DataFrame, scale: str) -> str | None:
    """Say how the values contradict the declared scale (None when they fit it).

    Raw intensities of a mass spectrometer run into the thousands and more; log2 values of
    intensities stay below ~40 and log2 ratios around 0. A file whose every value is below 50
    looks log2 already; a value above 50 cannot be a log2 value (``impossible_scale``).
    """
    values = intensities.to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None
    if scale == "raw" and finite.max() < LOG_SCALE_MAX:
        return (
            f"every intensity is below {LOG_SCALE_MAX:g}: the values look log2 already; "
            "declare them with --scale log2 (they were NOT exponentiated)"
        )
    return impossible_scale(intensities, scale)


def impossible_scale(intensities: pd.DataFrame, scale: str) -> str | None:
    """Say why the values cannot be on the declared scale (None when they can).

    Only values declared log2 can be impossible: above 50 they are no log2 value, and
    converting them (2**x) gives intensities beyond any instrument, or infinity. ``inspect``
    reports this, ``score`` refuses the file with it: one rule, one message.
    """
    if scale != "log2":
        return None
    values = intensities.to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    if finite.size and finite.max() > LOG_SCALE_MAX:
        return (
            f"declared log2 but values reach {finite.max():.4g}: they look like raw "
            "intensities; drop --scale log2"
        )
    return None
