"""``achats-innovants classify``: add the decision columns to any CSV that has an ``objet`` column."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from .classify import classify
from .decp.values import parse_amount, parse_bool

OUTPUT_COLUMNS = ("innovant", "innovation_score", "innovation_signaux")


class InputError(Exception):
    pass


def _read(path: Path) -> pd.DataFrame:
    head = path.read_bytes()[:64 * 1024]
    encoding = "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            encoding = "cp1252"
    try:
        dialect = csv.Sniffer().sniff(head.decode(encoding, "replace").split("\n", 1)[0], delimiters=",;\t|")
        separator = dialect.delimiter
    except csv.Error:
        separator = ","
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, sep=separator, encoding=encoding)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path} : CSV illisible ({exc})") from exc


def classify_csv(source: Path, target: Path) -> int:
    if not source.is_file():
        raise InputError(f"{source} : fichier introuvable")
    frame = _read(source)
    if "objet" not in frame.columns:
        raise InputError(f"{source} : colonne « objet » absente (colonnes : {', '.join(frame.columns[:10])})")
    inputs = pd.DataFrame({"objet": frame["objet"].replace("", None)}, index=frame.index)
    for column in ("code_cpv", "procedure", "nature", "date_notification"):
        if column in frame:
            inputs[column] = frame[column].replace("", None)
    if "montant" in frame:
        inputs["montant"] = pd.array([parse_amount(v)[0] for v in frame["montant"]], dtype="Float64")
    if "marche_innovant_declare" in frame:
        inputs["marche_innovant_declare"] = pd.array([parse_bool(v)[0] for v in frame["marche_innovant_declare"]],
                                                     dtype="boolean")
    decided = classify(inputs)
    out = frame.drop(columns=[c for c in OUTPUT_COLUMNS if c in frame.columns])
    out["innovant"] = decided["innovant"].map({True: "true", False: "false"})
    out["innovation_score"] = decided["innovation_score"].map(lambda v: f"{v:.3f}")
    out["innovation_signaux"] = decided["innovation_signaux"]
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.en-cours")
    out.to_csv(temporary, index=False, encoding="utf-8")
    temporary.replace(target)
    return len(out)
