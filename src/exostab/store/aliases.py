"""Registered versions and their aliases: where a version goes, its tags, champion/challenger.

``plan_registration`` chooses the registered name so that no alias moves to a model of another
data contract; ``describe_version`` writes a version's description and tags; ``assign_aliases``
makes a new version the challenger (and champion when it earns it); ``promote`` moves an alias
by hand, champion only past the gate.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from exostab.errors import ExostabError
from exostab.store.model_card import ELIGIBLE, GATE_TAG
from exostab.store.registry import DataContract, derived_model_name
from exostab.store.tracking import CHALLENGER, CHAMPION, first_line

logger = logging.getLogger(__name__)


def describe_version(
    name: str, version: str, description: str | None, tags: dict[str, str] | None
) -> None:
    """Write the description and tags on a registered model version."""
    client = MlflowClient()
    if description:
        client.update_model_version(name, version, description=description)
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version, key, value)


def version_contract(client: MlflowClient, name: str, version: str) -> DataContract | None:
    """The data contract of a registered version: its run's ``data.label``/``data.scale``
    params and the protein groups of its ``signature_columns.csv``; None when unreadable."""
    try:
        model_version = client.get_model_version(name, version)
        run = client.get_run(str(model_version.run_id))
        with tempfile.TemporaryDirectory() as scratch:
            columns = pd.read_csv(
                client.download_artifacts(run.info.run_id, "signature_columns.csv", scratch)
            )
    except (MlflowException, OSError, ValueError) as error:
        logger.info("no data contract for %s/%s (%s)", name, version, error)
        return None
    params = run.data.params
    return DataContract(
        label=params.get("data.label", "unstable"),
        scale=params.get("data.scale", "raw"),
        proteins=frozenset(map(str, columns["input_name"])),
    )


def alias_holder(client: MlflowClient, name: str) -> tuple[str, str] | None:
    """(alias, version) of the version ``make score``/``make serve`` would use: the champion,
    else the challenger; None for a name with no alias (or no registered model)."""
    for alias in (CHAMPION, CHALLENGER):
        try:
            return alias, str(client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            continue
    return None


@dataclass(frozen=True)
class Registration:
    """Where a new version goes: the registered name, and whether it may move aliases there."""

    name: str
    move_aliases: bool
    notes: tuple[str, ...] = ()


def plan_registration(
    contract: DataContract, base: str, explicit: bool, data_folder: str
) -> Registration:
    """Choose the registered name so that no alias moves to a model of another data contract.

    The version goes under ``base`` when the version holding ``base``'s aliases (champion,
    else challenger) reads the same data (``DataContract.differences``) or none exists. When
    it does not: a name the user chose (``explicit``) still gets the version, with no alias
    moved; otherwise the version goes under a name of its own (``derived_model_name``), whose
    aliases it may move under the same rule.
    """
    client = MlflowClient()
    reasons: list[str] = []
    holder = alias_holder(client, base)
    if holder is not None:
        current = version_contract(client, base, holder[1])
        reasons = contract_reasons(contract, current)
        if not reasons:
            return Registration(base, True)
        why = f"its data differ from models:/{base}@{holder[0]} (version {holder[1]}): " + (
            "; ".join(reasons)
        )
        if explicit:
            return Registration(
                base,
                False,
                (
                    f"No alias of {base} moved: {why}.",
                    f"To use it anyway: exostab promote {base} <version> --alias {CHAMPION}.",
                ),
            )
    else:
        return Registration(base, True)
    own = derived_model_name(base, data_folder)
    holder = alias_holder(client, own)
    if holder is not None and contract_reasons(contract, version_contract(client, own, holder[1])):
        return Registration(own, False, (f"Registered under {own}, {why}; no alias moved.",))
    return Registration(
        own,
        True,
        (
            f"Registered under its own name {own}: {why}. models:/{base} (what make score "
            f"and make serve use) is unchanged; score with --model models:/{own}@{CHALLENGER}, "
            "or choose a name with --model-name.",
        ),
    )


def contract_reasons(new: DataContract, current: DataContract | None) -> list[str]:
    return [] if current is None else new.differences(current)


ALIASES = (CHAMPION, CHALLENGER)


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did.

    Attributes:
        version: the version the alias now points at, as the registry names it (``3``).
        before: the version the alias pointed at before, or None (it did not exist).
        gate: what training recorded of the champion gate: ``champion-eligible``, ``not
            eligible``, ``constant risk``, or None when the version records none.
    """

    version: str
    before: str | None
    gate: str | None

    @property
    def gate_passed(self) -> bool:
        return self.gate == ELIGIBLE


def recorded_gate(client: MlflowClient, version: Any) -> str | None:
    """The champion gate a registered version records: its ``gate_verdict`` tag, else (older
    versions) its run's ``champion_eligible`` metric; None when neither is there."""
    tag = version.tags.get(GATE_TAG)
    if tag:
        return str(tag)
    if version.run_id:
        try:
            metric = client.get_run(version.run_id).data.metrics.get("champion_eligible")
        except MlflowException:
            metric = None
        if metric is not None:
            return ELIGIBLE if metric >= 1.0 else "not eligible"
    return None


def checked_alias(alias: str) -> str:
    """Refuse an alias exostab does not use (``--alias bogus``): champion or challenger only.

    Raises:
        ExostabError: naming the aliases allowed.
    """
    if alias not in ALIASES:
        raise ExostabError(
            f"--alias must be {' or '.join(ALIASES)} (the aliases exostab scores and "
            f"serves with), not {alias!r}"
        )
    return alias


def promote(name: str, version: str, alias: str, *, force: bool = False) -> Promotion:
    """Point ``models:/NAME@ALIAS`` at a version.

    ``champion`` goes only to a version that passed the champion gate at training (it beat
    passage alone), unless ``force``.

    Raises:
        ExostabError: an alias other than champion or challenger; no such registered model
            or version (deleted versions included); champion for a version that did not pass
            the gate (or records no gate) without ``force``. No alias moves then.
    """
    checked_alias(alias)
    client = MlflowClient()
    try:
        found = client.get_model_version(name, version)
    except MlflowException as error:
        raise ExostabError(
            f"cannot promote {name} version {version}: {first_line(str(error))}"
        ) from None
    gate = recorded_gate(client, found)
    if alias == CHAMPION and gate != ELIGIBLE and not force:
        why = f"did not pass the champion gate ({gate})" if gate else "records no champion gate"
        raise ExostabError(
            f"{name} version {found.version} {why}: not made champion; promote it with "
            "--force to make it champion anyway"
        )
    try:
        before: str | None = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        before = None
    client.set_registered_model_alias(name, alias, str(found.version))
    return Promotion(str(found.version), before, gate)


def assign_aliases(
    name: str, version: str, metrics: dict[str, float], data_hash: str
) -> tuple[str, ...]:
    """Make the new version the challenger; promote it to champion when it earns it.

    It becomes champion when it passed the gate (``champion_eligible``: it beats passage alone
    with a gain interval above 0) and either there is no champion or it beats the champion's
    ``cv_roc_auc`` on the same data fingerprint.
    """
    client = MlflowClient()
    client.set_registered_model_alias(name, CHALLENGER, version)
    aliases = [CHALLENGER]
    score = metrics.get("cv_roc_auc", float("nan"))
    if not metrics.get("champion_eligible", 0.0) >= 1.0:
        logger.info("the model did not pass the gate: not champion")
        return tuple(aliases)
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    promote = champion is None
    if champion is not None:
        champion_run = client.get_run(champion.run_id) if champion.run_id else None
        same_data = (
            champion_run is not None and champion_run.data.tags.get("data_hash") == data_hash
        )
        champion_score = (
            champion_run.data.metrics.get("cv_roc_auc", float("nan"))
            if champion_run
            else float("nan")
        )
        promote = same_data and score > champion_score
    if promote:
        client.set_registered_model_alias(name, CHAMPION, version)
        aliases.append(CHAMPION)
    return tuple(aliases)
