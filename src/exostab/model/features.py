"""Feature transformers fitted inside the pipeline, so grouped CV refits them per fold.

Every transformer follows the scikit-learn estimator contract (``__init__`` stores parameters,
fitted state ends in ``_``), works on pandas frames (lots × columns) and can be rebuilt from a
JSON-able state (``transformer_state`` / ``transformer_from_state``), which is how the served
model replays exactly what training learned without unpickling anything.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

logger = logging.getLogger(__name__)


def dtype_mask(frame: pd.DataFrame, test: Callable[[Any], bool]) -> np.ndarray:
    """Return, per column, ``test(dtype)``, asking once per distinct dtype.

    A wide frame has thousands of columns but a handful of dtypes; asking pandas per column
    (``is_numeric_dtype`` ~5 µs) costs ~15 ms per call on a 3,000-protein request.
    """
    kinds = frame.dtypes.tolist()
    verdict = {kind: bool(test(kind)) for kind in set(kinds)}
    return np.array([verdict[kind] for kind in kinds], dtype=bool)


def as_frame(X: Any) -> pd.DataFrame:
    """Accept a frame or an array (sklearn's checks pass arrays) and return a float-safe frame."""
    if isinstance(X, pd.DataFrame):
        return X
    array = check_array(X, ensure_all_finite="allow-nan")
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


class ExostabTransformer(TransformerMixin, BaseEstimator):
    """Shared plumbing: pandas output, metadata columns passed through untouched."""

    state_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, metadata: tuple[str, ...] = ()) -> None:
        self.metadata = metadata

    def _protein_columns(self, frame: pd.DataFrame) -> list[str]:
        metadata = set(self.metadata)
        # tolist() first: iterating a str Index (pandas 3) costs ~0.6 µs a name
        return [c for c in frame.columns.tolist() if c not in metadata]

    def _remember_input(self, frame: pd.DataFrame) -> None:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]

    def _aligned(self, X: Any) -> pd.DataFrame:
        """Return X with the training columns in training order.

        A frame is matched by column name; columns it lacks become NaN (a protein not
        measured), which lets scoring send only the proteins that can change a prediction.
        """
        check_is_fitted(self)
        frame = as_frame(X)
        expected = list(self.feature_names_in_)
        if isinstance(X, pd.DataFrame):
            same = frame.columns.tolist() == expected
            return frame if same else frame.reindex(columns=expected)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        frame.columns = expected
        return frame

    def transform(self, X: Any) -> Any:
        """Transform lots; frames in give frames out (arrays in, arrays out, for sklearn checks)."""
        out = self._transform(self._aligned(X))
        return out if isinstance(X, pd.DataFrame) else out.to_numpy()

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(self.columns_out_, dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class LogNormalizer(ExostabTransformer):
    """Log2-transform raw intensities and centre each lot on a reference set of proteins.

    With ``scale="raw"`` zeros and negatives become NaN (not detected) and the rest is log2
    transformed; with ``scale="log2"`` the values are log2 already (log2 intensities or ratios,
    any sign) and are used as they are, NaN = not detected.

    With ``normalisation="median"`` each lot is shifted so that the median of the reference
    proteins (detected in at least ``reference_min_rate`` of training lots; the
    ``max_reference`` most consistently detected and most abundant of them; when none reaches
    the rate, the ``max_reference`` most consistently detected) equals the training median: a
    median over all detected proteins would drift with the lot's missingness, which is not at
    random. The reference stays small, so scoring (and the HTTP signature) need only it and the
    proteins the model uses.
    """

    state_attributes = ("reference_", "target_median_", "columns_out_")

    def __init__(
        self,
        metadata: tuple[str, ...] = (),
        normalisation: str = "median",
        reference_min_rate: float = 0.9,
        max_reference: int = 100,
        scale: str = "raw",
    ) -> None:
        self.metadata = metadata
        self.normalisation = normalisation
        self.reference_min_rate = reference_min_rate
        self.max_reference = max_reference
        self.scale = scale

    def _log(self, frame: pd.DataFrame, proteins: list[str]) -> np.ndarray:
        values = frame[proteins].to_numpy(dtype=float, copy=True)
        if self.scale == "log2":
            values[~np.isfinite(values)] = np.nan
            return values
        with np.errstate(divide="ignore", invalid="ignore"):
            values[~(values > 0)] = np.nan
            return np.log2(values)

    def fit(self, X: Any, y: Any = None) -> LogNormalizer:
        frame = as_frame(X)
        self._remember_input(frame)
        proteins = self._protein_columns(frame)
        logged = self._log(frame, proteins)
        detected = np.mean(np.isfinite(logged), axis=0) if len(logged) else np.zeros(len(proteins))
        # The reference: the most consistently detected proteins (then the most abundant),
        # capped so that scoring needs only a few hundred of them.
        with _quiet_all_nan():
            abundance = np.nan_to_num(np.nanmedian(logged, axis=0), nan=-np.inf)
        # When no protein reaches the rate (sparse data), the most consistently detected ones
        # still make the reference: never the whole proteome, which scoring would then need.
        eligible = [i for i, rate in enumerate(detected) if rate >= self.reference_min_rate]
        ranked = sorted(
            eligible or [i for i, rate in enumerate(detected) if rate > 0] or range(len(proteins)),
            key=lambda i: (-detected[i], -abundance[i], proteins[i]),
        )[: self.max_reference]
        reference = [proteins[i] for i in sorted(ranked)]
        self.reference_ = reference
        idx = [proteins.index(p) for p in reference]
        with _quiet_all_nan():
            lot_medians = np.nanmedian(logged[:, idx], axis=1) if idx else np.zeros(len(frame))
        self.target_median_ = (
            float(np.nanmedian(lot_medians)) if np.isfinite(lot_medians).any() else 0.0
        )
        self.columns_out_ = list(frame.columns)
        return self

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        proteins = self._protein_columns(frame)
        logged = self._log(frame, proteins)
        if self.normalisation == "median" and proteins:
            position = {p: i for i, p in enumerate(proteins)}
            idx = [position[p] for p in self.reference_ if p in position]
            with np.errstate(all="ignore"), _quiet_all_nan():
                lot_medians = np.nanmedian(logged[:, idx], axis=1)
            shift = np.where(np.isfinite(lot_medians), self.target_median_ - lot_medians, 0.0)
            logged = logged + shift[:, None]
        protein_set = set(proteins)
        columns = frame.columns.tolist()
        metadata = [c for c in columns if c not in protein_set]
        logged_frame = pd.DataFrame(logged, index=frame.index, columns=proteins)
        out = pd.concat([frame[metadata], logged_frame], axis=1)
        # metadata come first in training (and in scoring): reorder only when they do not
        return out if out.columns.tolist() == columns else out[columns]


class DetectionFilter(ExostabTransformer):
    """Keep the proteins detected (non-NaN) in at least ``min_rate`` of the training lots."""

    state_attributes = ("columns_out_",)

    def __init__(self, metadata: tuple[str, ...] = (), min_rate: float = 0.5) -> None:
        self.metadata = metadata
        self.min_rate = min_rate

    def fit(self, X: Any, y: Any = None) -> DetectionFilter:
        frame = as_frame(X)
        self._remember_input(frame)
        proteins = self._protein_columns(frame)
        rate = (
            frame[proteins].notna().mean(axis=0) if len(frame) else pd.Series(0.0, index=proteins)
        )
        kept = [p for p in proteins if rate[p] >= self.min_rate]
        logger.info(
            "kept %d/%d proteins detected in >= %.0f%% of training lots",
            len(kept),
            len(proteins),
            100 * self.min_rate,
        )
        metadata_set = set(self.metadata)
        metadata = [c for c in frame.columns if c in metadata_set]
        self.columns_out_ = metadata + kept
        return self

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.columns_out_]


class ProteinScreen(ExostabTransformer):
    """Keep the ``top_k`` proteins most associated with the label (supervised, so per fold).

    The association is the absolute Welch t-statistic of the (log) abundance between unstable
    and stable training lots, over the lots where the protein was detected. Screening on all
    lots before splitting is the classic leak; inside the pipeline it is refitted per fold.
    """

    state_attributes = ("columns_out_",)

    def __init__(
        self, metadata: tuple[str, ...] = (), top_k: int = 500, adjust_for: str | None = None
    ) -> None:
        self.metadata = metadata
        self.top_k = top_k
        self.adjust_for = adjust_for

    def fit(self, X: Any, y: Any = None) -> ProteinScreen:
        frame = as_frame(X)
        self._remember_input(frame)
        proteins = [c for c in self._protein_columns(frame) if not str(c).startswith("module_")]
        protein_set = set(proteins)
        metadata = [c for c in frame.columns if c not in protein_set]
        if y is None or len(proteins) <= self.top_k:
            self.columns_out_ = list(frame.columns)
            return self
        labels = np.asarray(y).astype(int)
        values = frame[proteins].to_numpy(dtype=float)
        if self.adjust_for and self.adjust_for in frame.columns:
            values = _residuals(values, frame[self.adjust_for].to_numpy(dtype=float))
        with _quiet_all_nan():
            groups = [values[labels == k] for k in (0, 1)]
            means = [np.nanmean(g, axis=0) for g in groups]
            variances = [np.nanvar(g, axis=0, ddof=1) for g in groups]
            counts = [np.sum(np.isfinite(g), axis=0) for g in groups]
            t = (means[1] - means[0]) / np.sqrt(
                variances[1] / np.maximum(counts[1], 1) + variances[0] / np.maximum(counts[0], 1)
            )
        strength = np.nan_to_num(np.abs(t), nan=0.0, posinf=0.0)
        order = np.argsort(-strength, kind="stable")[: self.top_k]
        kept = {proteins[i] for i in order}
        kept |= set(metadata)
        self.columns_out_ = [c for c in frame.columns if c in kept]
        return self

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.columns_out_]


class ModuleScores(ExostabTransformer):
    """Append one score per curated protein panel: the mean z-score of its detected members.

    Means and standard deviations come from the training lots; a lot's score averages whatever
    members it has measured, so one missing protein does not void the module.
    """

    state_attributes = ("members_", "means_", "scales_", "columns_out_")

    def __init__(
        self, metadata: tuple[str, ...] = (), panels: dict[str, list[str]] | None = None
    ) -> None:
        self.metadata = metadata
        self.panels = panels

    def fit(self, X: Any, y: Any = None) -> ModuleScores:
        frame = as_frame(X)
        self._remember_input(frame)
        columns = set(self._protein_columns(frame))
        self.members_ = {
            name: [p for p in members if p in columns]
            for name, members in sorted((self.panels or {}).items())
        }
        self.members_ = {name: members for name, members in self.members_.items() if members}
        used = sorted({p for members in self.members_.values() for p in members})
        with _quiet_all_nan():
            self.means_ = {p: _finite_or(np.nanmean(frame[p].to_numpy(float)), 0.0) for p in used}
            self.scales_ = {
                p: _finite_or(np.nanstd(frame[p].to_numpy(float)), 1.0) or 1.0 for p in used
            }
        self.columns_out_ = list(frame.columns) + [f"module_{name}" for name in self.members_]
        return self

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        scores = {}
        for name, members in self.members_.items():
            block = frame[members].to_numpy(float)
            means = np.array([self.means_[p] for p in members])
            scales = np.array([self.scales_[p] for p in members])
            with _quiet_all_nan():
                scores[f"module_{name}"] = np.nanmean((block - means) / scales, axis=1)
        return pd.concat([frame, pd.DataFrame(scores, index=frame.index)], axis=1)


class MissingPolicy(ExostabTransformer):
    """Handle not-detected proteins explicitly.

    ``strategy="native"`` leaves NaN for LightGBM's own missing-value branches; ``"floor"`` fills
    a protein's NaN with its training minimum minus ``shift`` (log2 units), i.e. "below
    detection", which is what missing-not-at-random means in label-free proteomics. With
    ``indicators=True`` a 0/1 column is added for proteins missing in 10–90% of training lots.
    """

    state_attributes = ("fill_", "indicators_", "columns_out_")

    def __init__(
        self,
        metadata: tuple[str, ...] = (),
        strategy: str = "native",
        shift: float = 1.0,
        indicators: bool = False,
    ) -> None:
        self.metadata = metadata
        self.strategy = strategy
        self.shift = shift
        self.indicators = indicators

    def fit(self, X: Any, y: Any = None) -> MissingPolicy:
        frame = as_frame(X)
        self._remember_input(frame)
        proteins = [c for c in self._protein_columns(frame) if not str(c).startswith("module_")]
        values = frame[proteins].to_numpy(float)
        with _quiet_all_nan():
            minimum = np.nanmin(values, axis=0) if len(values) else np.full(len(proteins), np.nan)
        floor = np.where(np.isfinite(minimum), minimum - self.shift, 0.0)
        self.fill_ = (
            dict(zip(proteins, floor.tolist(), strict=True)) if self.strategy == "floor" else {}
        )
        missing_rate = np.mean(np.isnan(values), axis=0) if len(values) else np.zeros(len(proteins))
        self.indicators_ = (
            [p for p, rate in zip(proteins, missing_rate, strict=True) if 0.1 <= rate <= 0.9]
            if self.indicators
            else []
        )
        self.columns_out_ = list(frame.columns) + [f"missing_{p}" for p in self.indicators_]
        return self

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        flags = {f"missing_{p}": frame[p].isna().astype(float).to_numpy() for p in self.indicators_}
        if self.fill_:
            frame = frame.fillna(value=self.fill_)
        if flags:
            frame = pd.concat([frame, pd.DataFrame(flags, index=frame.index)], axis=1)
        return frame


class MetadataEncoder(ExostabTransformer):
    """Encode metadata as floats: numbers as they are, categories as codes learnt in training.

    A category never seen in training becomes NaN (LightGBM sends it down the missing branch)
    rather than an error, so a new medium at scoring is handled, and flagged by the caller.
    """

    state_attributes = ("categories_", "columns_out_")

    def __init__(self, metadata: tuple[str, ...] = (), categorical: tuple[str, ...] = ()) -> None:
        self.metadata = metadata
        self.categorical = categorical

    def fit(self, X: Any, y: Any = None) -> MetadataEncoder:
        frame = as_frame(X)
        self._remember_input(frame)
        self.categories_ = {
            column: sorted({str(v) for v in frame[column].dropna()})
            for column in self.categorical
            if column in frame.columns
        }
        self.columns_out_ = list(frame.columns)
        return self

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = np.empty(frame.shape, dtype=float)
        is_number = dtype_mask(frame, pd.api.types.is_numeric_dtype)
        numeric = [
            j
            for j, column in enumerate(frame.columns.tolist())
            if is_number[j] and column not in self.categories_
        ]
        # One block copy for the (many) numeric columns; only the few others go one by one.
        values[:, numeric] = frame.iloc[:, numeric].to_numpy(dtype=float)
        numeric_set = set(numeric)
        for j, column in enumerate(frame.columns.tolist()):
            if column in self.categories_:
                codes = {value: float(i) for i, value in enumerate(self.categories_[column])}
                values[:, j] = [
                    codes.get(str(v), np.nan) if pd.notna(v) else np.nan for v in frame[column]
                ]
            elif j not in numeric_set:
                values[:, j] = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        return pd.DataFrame(values, index=frame.index, columns=frame.columns)


TRANSFORMERS: dict[str, type[ExostabTransformer]] = {
    cls.__name__: cls
    for cls in (
        LogNormalizer,
        DetectionFilter,
        ProteinScreen,
        ModuleScores,
        MissingPolicy,
        MetadataEncoder,
    )
}


def transformer_state(transformer: ExostabTransformer) -> dict[str, Any]:
    """Return the parameters and fitted state of a transformer as plain JSON-able values."""
    check_is_fitted(transformer)
    params = transformer.get_params()
    return {
        "class": type(transformer).__name__,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "feature_names_in": [str(c) for c in transformer.feature_names_in_],
        "state": {name: getattr(transformer, name) for name in transformer.state_attributes},
    }


def transformer_from_state(state: dict[str, Any]) -> ExostabTransformer:
    """Rebuild a fitted transformer from ``transformer_state`` output."""
    cls = TRANSFORMERS[state["class"]]
    params = dict(state["params"])
    for key in ("metadata", "categorical"):
        if key in params:
            params[key] = tuple(params[key])
    transformer = cls(**params)
    transformer.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
    transformer.n_features_in_ = len(state["feature_names_in"])
    for name, value in state["state"].items():
        setattr(transformer, name, value)
    return transformer


def _residuals(values: np.ndarray, covariate: np.ndarray) -> np.ndarray:
    """Remove each column's least-squares line on ``covariate``, over the lots measured."""
    known = np.isfinite(values) & np.isfinite(covariate)[:, None]
    counts = np.maximum(known.sum(axis=0), 1)
    x = np.where(known, covariate[:, None], 0.0)
    v = np.where(known, values, 0.0)
    x_mean, v_mean = x.sum(axis=0) / counts, v.sum(axis=0) / counts
    dx = np.where(known, x - x_mean, 0.0)
    slope = (dx * (v - v_mean)).sum(axis=0) / np.maximum((dx**2).sum(axis=0), 1e-12)
    return np.where(known, values - v_mean - slope * dx, np.nan)


def _finite_or(value: float, default: float) -> float:
    return float(value) if np.isfinite(value) else default


@contextmanager
def _quiet_all_nan() -> Iterator[None]:
    """Silence numpy's 'All-NaN slice' and 'Mean of empty slice' warnings: NaN is the answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
