"""The INSEE SIRENE stock of legal units (``StockUniteLegale``), downloaded once and read offline.

Why the stock file rather than an API (recherche-entreprises.api.gouv.fr or the INSEE Sirene API): the
pipeline looks up hundreds of thousands of distinct suppliers and buyers, and the APIs allow about 7 requests
per second, i.e. hours per run and a run that depends on a remote service. The INSEE publishes the whole
register as one Parquet file each month on data.gouv.fr (« Base Sirene des entreprises et de leurs
établissements (SIREN, SIRET) », about 700 MB, ~30 M legal units): one download a month, then every run is
offline and reproducible.

Only four columns are read (:data:`COLUMNS`), and only the rows of the requested SIRENs, with a pyarrow dataset
filter: the file is never loaded whole in memory.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from pipelines.settings import REPO_ROOT, env_int

DEFAULT_URL = "https://object.files.data.gouv.fr/data-pipeline-open/siren/stock/StockUniteLegale_utf8.parquet"
DEFAULT_MAX_BYTES = 3 * 1024**3
COLUMNS = ("siren", "categorieJuridiqueUniteLegale", "denominationUniteLegale", "categorieEntreprise")
USER_AGENT = "achats-innovants (observatoire des achats innovants ; stock SIRENE mensuel)"
CHUNK_BYTES = 1024 * 1024
PARQUET_MAGIC = b"PAR1"


class SireneDownloadError(RuntimeError):
    """The stock could not be downloaded; the previous cached file, if any, is untouched."""


def stock_url() -> str:
    return os.environ.get("ACHATS_SIRENE_URL", "").strip() or DEFAULT_URL


def stock_path() -> Path:
    return Path(os.environ.get("ACHATS_SIRENE_PATH", "").strip()
                or REPO_ROOT / "data" / "sirene" / "StockUniteLegale.parquet")


def stock_max_bytes() -> int:
    """Largest stock accepted (the file is ~700 MB in 2025; a much bigger answer is not the stock)."""
    return env_int("ACHATS_SIRENE_MAX_BYTES", DEFAULT_MAX_BYTES)


def available_stock() -> Path | None:
    """The configured stock when it has been downloaded, else None (callers then use the offline fallback)."""
    path = stock_path()
    return path if path.is_file() else None


def download_stock(url: str | None = None, target: Path | None = None, max_bytes: int | None = None,
                   timeout_s: float = 60.0) -> Path:
    """Stream the stock to ``target`` through a temporary file beside it, then rename it atomically.

    Arguments left to None come from the environment (:func:`stock_url`, :func:`stock_path`,
    :func:`stock_max_bytes`). Refused when the announced or streamed size exceeds ``max_bytes`` or when the
    answer is not Parquet; on any failure the temporary file is removed and the previous ``target`` stays as it
    was.
    """
    url = url or stock_url()
    target = Path(target or stock_path())
    limit = stock_max_bytes() if max_bytes is None else max_bytes
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, limit, timeout_s)
        _check_parquet(tmp, url)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _stream(url: str, out: BinaryIO, limit: int, timeout_s: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            announced = response.headers.get("Content-Length")
            if announced and announced.isdigit() and int(announced) > limit:
                raise SireneDownloadError(
                    f"{url} : taille annoncée {int(announced)} octets, au-delà de la limite de {limit} octets "
                    "(ACHATS_SIRENE_MAX_BYTES) ; téléchargement refusé")
            size = 0
            while chunk := response.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise SireneDownloadError(
                        f"{url} : plus de {limit} octets reçus, au-delà de la limite (ACHATS_SIRENE_MAX_BYTES) ; "
                        "téléchargement interrompu")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise SireneDownloadError(f"{url} : le serveur a répondu HTTP {exc.code} ({exc.reason})") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise SireneDownloadError(f"{url} : téléchargement impossible ({exc})") from exc


def _check_parquet(path: Path, url: str) -> None:
    # An HTML error page served with status 200 must not replace a good cached stock.
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(max(size - 4, 0))
        tail = handle.read(4)
    if size < 12 or head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        raise SireneDownloadError(f"{url} : la réponse ({size} octets) n'est pas un fichier Parquet ; refusée")


def lookup(sirens: Iterable[str], path: Path | None = None) -> pd.DataFrame:
    """Rows of the stock for these 9-digit SIRENs (absent ones are simply missing), with :data:`COLUMNS` only.

    Every column comes back as text or None whatever its type in the file (``categorieJuridiqueUniteLegale``
    as a 4-digit code).
    """
    path = Path(path or stock_path())
    wanted = _valid_sirens(sirens)
    if not len(wanted):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    dataset = _open(path)
    siren_type = dataset.schema.field("siren").type
    values = pa.array(wanted.astype("int64") if pa.types.is_integer(siren_type) else wanted)
    try:
        table = dataset.to_table(columns=list(COLUMNS), filter=ds.field("siren").isin(values))
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path} : lecture du stock SIRENE impossible ({exc})") from exc
    return _as_text(table)


def _valid_sirens(sirens: Iterable[str]) -> np.ndarray:
    candidates = pd.Series(sirens if isinstance(sirens, (pd.Series, pd.Index, np.ndarray, list)) else list(sirens),
                           dtype=object).drop_duplicates()
    return candidates[candidates.str.fullmatch(r"\d{9}", na=False)].to_numpy(dtype=str)


def _open(path: Path) -> ds.Dataset:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} : stock SIRENE introuvable (télécharger le stock ou régler ACHATS_SIRENE_PATH)")
    try:
        dataset = ds.dataset(path, format="parquet")
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path} : stock SIRENE illisible, fichier Parquet attendu ({exc})") from exc
    missing = [c for c in COLUMNS if c not in dataset.schema.names]
    if missing:
        raise ValueError(f"{path} : colonnes absentes du stock SIRENE : {', '.join(missing)}")
    return dataset


def _as_text(table: pa.Table) -> pd.DataFrame:
    """Every column as text or None, whatever its Parquet type (done in Arrow: it may be a million rows)."""
    columns = {name: _arrow_text(table.column(name)) for name in COLUMNS}
    # Integer-typed files lose the leading zeros of SIRENs such as 005 520 135.
    columns["siren"] = pc.utf8_lpad(columns["siren"], 9, "0")
    code = pc.replace_substring_regex(columns["categorieJuridiqueUniteLegale"], r"\.0$", "")
    columns["categorieJuridiqueUniteLegale"] = pc.if_else(pc.match_substring_regex(code, r"^\d{4}$"), code, None)
    return pd.DataFrame({name: _none_for_missing(col.to_pandas()) for name, col in columns.items()}, dtype=object)


def _arrow_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    return pc.if_else(pc.equal(text, ""), None, text)


def _none_for_missing(values: pd.Series) -> pd.Series:
    values = values.astype(object)
    return values.where(values.notna(), None)
