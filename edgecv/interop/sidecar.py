"""Facts a user writes down: ``--preprocess FILE`` and the ``FILE.edgecv.yaml`` / ``FILE.edgecv.json`` sidecar.

A facts file is YAML or JSON. Either the preprocessing alone (the contract's fields: ``input_size``, ``mode``,
``resize_size``, ``interpolation``, ``mean``, ``std``, ``colour``, ``layout``, ``pad_value``), or a document with
any of ``preprocess``, ``task``, ``labels`` (a list, or a text file of one label per line next to it) and ``head``.
Every field is checked before any work; a wrong one is one line naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..model_files import SIDECAR_SUFFIXES, sidecar_for
from ..portable.contract import PREPROCESS_FIELDS, ContractError, check_metadata
from ..portable.heads import ALL_HEADS
from ..resources import read_limited
from ..tasks import TASKS

FACT_KEYS = ("preprocess", "task", "labels", "head")
MAX_FACTS_BYTES = 4 * 2**20


def read_sidecar(model: Path) -> dict[str, Any] | None:
    """The checked facts of the model's sidecar (``read_facts_file``), or None when it has none."""
    found = sidecar_for(Path(model))
    return read_facts_file(found) if found else None


def _load(path: Path) -> Any:
    text = read_limited(path, "the facts file", MAX_FACTS_BYTES)
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{path.name} is not valid JSON ({str(exc)[:100]})") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path.name} is not valid YAML ({' '.join(str(exc).split())[:120]})") from None


def read_facts_file(path: str | Path) -> dict[str, Any]:
    """A facts file as ``{"preprocess", "task", "labels", "head"}`` (only what it states), checked."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"facts file not found: {path}")
    doc = _load(path)
    if not isinstance(doc, dict):
        raise UsageError(f"{path.name} must be a mapping of fields (see docs/byom.md), not {type(doc).__name__}")
    if not set(doc) & set(FACT_KEYS):  # the preprocessing alone
        doc = {"preprocess": doc}
    if isinstance(doc.get("labels"), str):
        doc["labels"] = labels_from(doc["labels"], base=path.parent)
    return check_facts(doc, path.name)


def labels_from(arg: str, base: Path | None = None) -> list[str]:
    """``--labels``: a text file (one label per line) or ``a,b,c``."""
    candidate = (base / arg) if base is not None else Path(arg)
    if base is not None and "," not in arg and base.resolve() not in candidate.resolve().parents:
        # a facts file names labels beside it, never elsewhere: a model folder from anywhere must not make edgecv
        # read ~/.ssh/id_rsa into the labels of every prediction and report
        raise UsageError(f"labels file {arg!r} must be in the facts file's own folder ({base})")
    if candidate.is_file():
        text = read_limited(candidate, "the labels file", MAX_FACTS_BYTES)
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    elif "," in arg or base is None:
        labels = [x.strip() for x in arg.split(",") if x.strip()]
    else:
        raise UsageError(f"labels file not found: {candidate}")
    if not labels:
        raise UsageError(f"no labels in {arg!r}")
    return labels


def check_facts(doc: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(doc) - set(FACT_KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(FACT_KEYS)}; "
                         f"preprocess fields: {', '.join(PREPROCESS_FIELDS)})")
    if doc.get("task") is not None and doc["task"] not in TASKS:
        raise UsageError(f"{where}: task must be {' or '.join(TASKS)}, not {doc['task']!r}"[:300])
    if doc.get("head") is not None and doc["head"] not in ALL_HEADS:
        raise UsageError(f"{where}: head must be one of {', '.join(ALL_HEADS)}, not {doc['head']!r}"[:300])
    pre = doc.get("preprocess")
    if pre is not None:
        if not isinstance(pre, dict):
            raise UsageError(f"{where}: preprocess must be a mapping of fields")
        for key in ("mean", "std"):
            if isinstance(pre.get(key), (int, float)) and not isinstance(pre.get(key), bool):
                pre = {**pre, key: [pre[key]] * (1 if pre.get("colour") == "GRAY" else 3)}  # one value for all
        doc = {**doc, "preprocess": pre}
    probe = {"input_size": 1, **pre} if pre is not None and "input_size" not in pre else pre  # the size may come later
    try:
        check_metadata({"preprocess": probe, "labels": doc.get("labels")}, where)
    except ContractError as exc:
        raise UsageError(str(exc).replace(" metadata ", " ")) from None
    return doc


__all__ = ["FACT_KEYS", "SIDECAR_SUFFIXES", "check_facts", "labels_from", "read_facts_file", "read_sidecar", "sidecar_for"]
