"""Replace the files of existing data.gouv.fr resources, so that their stable URLs
(``https://www.data.gouv.fr/fr/datasets/r/<resource id>``) serve the new publication.

Only existing resources are updated: a local file without a matching resource is reported, never created (the
resource list, titles and descriptions are curated by hand on data.gouv.fr). Standard library only (urllib);
the body is streamed from disk so that a large CSV is not loaded in memory.

The API key travels only in the ``X-API-KEY`` header: never in a URL, a message, a log line or a repr, never over
plain HTTP to another machine, never to a redirect target (redirects are refused).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import uuid
from pathlib import Path, PurePosixPath
from typing import NamedTuple
from urllib.error import HTTPError, URLError
from urllib.parse import quote, unquote, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

DEFAULT_API_URL = "https://www.data.gouv.fr/api/1"
USER_AGENT = "achats-innovants-release (+https://www.data.gouv.fr)"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_BLOCK = 1 << 20

log = logging.getLogger(__name__)


class DataGouvError(Exception):
    """An exchange with data.gouv.fr failed. ``report``: what was done for each file before the failure."""

    def __init__(self, message: str, report: list[dict] | None = None):
        super().__init__(message)
        self.report = report or []


class DataGouvConfig(NamedTuple):
    api_key: str
    dataset_id: str
    api_url: str

    def __repr__(self) -> str:  # the key must not end up in a log through a repr
        return f"DataGouvConfig(api_key='***', dataset_id={self.dataset_id!r}, api_url={self.api_url!r})"

    __str__ = __repr__


def upload_configured() -> DataGouvConfig | None:
    """(api_key, dataset_id, api_url) from ACHATS_DATAGOUV_API_KEY, ACHATS_DATAGOUV_DATASET and
    ACHATS_DATAGOUV_API_URL (default the production API); None — upload off — unless key and dataset are set."""
    key = os.environ.get("ACHATS_DATAGOUV_API_KEY", "").strip()
    dataset = os.environ.get("ACHATS_DATAGOUV_DATASET", "").strip()
    if not key or not dataset:
        return None
    api_url = os.environ.get("ACHATS_DATAGOUV_API_URL", "").strip() or DEFAULT_API_URL
    return DataGouvConfig(key, dataset, api_url)


class _NoRedirect(HTTPRedirectHandler):
    # urllib would replay the request, key header included, to wherever the Location points.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = build_opener(_NoRedirect)


def _check_api_url(api_url: str) -> str:
    parts = urlsplit(api_url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS):
        return api_url.rstrip("/")
    raise ValueError(f"ACHATS_DATAGOUV_API_URL={api_url} : URL https attendue (la clé d'API ne circule pas en clair)")


def _server_message(error: HTTPError) -> str:
    try:
        body = error.read(2000).decode("utf-8", "replace")
    except Exception:
        return ""
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])[:300]
    except ValueError:
        pass
    return " ".join(body.split())[:300]


def _status_text(error: HTTPError) -> str:
    message = _server_message(error)
    return f"HTTP {error.code}" + (f" : {message}" if message else "")


def _dataset_resources(api_url: str, dataset_id: str, api_key: str, timeout: float) -> list[dict]:
    url = f"{api_url}/datasets/{quote(dataset_id, safe='')}/"
    request = Request(url, headers={"X-API-KEY": api_key, "Accept": "application/json", "User-Agent": USER_AGENT})
    try:
        with _opener.open(request, timeout=timeout) as response:
            dataset = json.loads(response.read().decode("utf-8"))
    except HTTPError as exc:
        raise DataGouvError(f"jeu de données {dataset_id} : lecture impossible sur data.gouv.fr "
                            f"({_status_text(exc)})") from None
    except URLError as exc:
        raise DataGouvError(f"jeu de données {dataset_id} : data.gouv.fr injoignable ({exc.reason})") from None
    except ValueError as exc:
        raise DataGouvError(f"jeu de données {dataset_id} : réponse de data.gouv.fr illisible ({exc})") from None
    resources = dataset.get("resources") if isinstance(dataset, dict) else None
    if not isinstance(resources, list):
        raise DataGouvError(f"jeu de données {dataset_id} : réponse de data.gouv.fr sans liste « resources »")
    return [r for r in resources if isinstance(r, dict) and r.get("id")]


def _url_name(url) -> str:
    return unquote(PurePosixPath(urlsplit(str(url or "")).path).name)


def _match(label: str, path: Path, resources: list[dict]) -> list[dict]:
    """Resources whose title is the label or the file name; failing that, whose URL ends with one of them."""
    names = {label.strip().casefold(), path.name.casefold()}
    by_title = [r for r in resources if str(r.get("title") or "").strip().casefold() in names]
    if by_title:
        return by_title
    return [r for r in resources if _url_name(r.get("url")).casefold() in names]


def _multipart(path: Path, boundary: str) -> tuple[list[bytes], int]:
    filename = path.name.replace("\\", "\\\\").replace('"', '\\"')
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode("utf-8")
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    return [head, tail], len(head) + path.stat().st_size + len(tail)


def _body(path: Path, head: bytes, tail: bytes):
    yield head
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            yield block
    yield tail


def _upload(api_url: str, dataset_id: str, resource_id: str, path: Path, api_key: str, timeout: float) -> dict:
    boundary = f"----achats{uuid.uuid4().hex}"
    (head, tail), length = _multipart(path, boundary)
    url = f"{api_url}/datasets/{quote(dataset_id, safe='')}/resources/{quote(resource_id, safe='')}/upload/"
    request = Request(url, data=_body(path, head, tail), method="POST", headers={
        "X-API-KEY": api_key,
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),  # with it, urllib streams the generator instead of chunking
    })
    with _opener.open(request, timeout=timeout) as response:
        status = response.status
        raw = response.read()
    try:
        answer = json.loads(raw.decode("utf-8")) if raw else {}
    except ValueError:
        answer = {}
    return {"http": status, "url": answer.get("url") if isinstance(answer, dict) else None}


def upload_to_datagouv(files: dict[str, Path], dataset_id: str, api_key: str, api_url: str = DEFAULT_API_URL,
                       timeout: float = 600) -> list[dict]:
    """Replace the file of each matching resource of data.gouv.fr dataset ``dataset_id``.

    ``files``: ``{label: local path}``; a file goes to the resource whose title is the label or the file name,
    else whose URL ends with one of them. Returns one report per file, in ``files`` order:
    ``{"fichier", "chemin", "statut", "ressource", "url", "octets", "http"}`` with statut "remplace",
    "sans_ressource" (nothing matches: not created) or "ambigu" (several match: nothing sent).
    Raises DataGouvError (naming the file and the HTTP status) on the first refused upload; its ``report`` says
    what was already sent."""
    api_url = _check_api_url(api_url)
    if not api_key or not dataset_id:
        raise ValueError("envoi data.gouv.fr : clé d'API et identifiant du jeu de données requis")
    local = {label: Path(path) for label, path in files.items()}
    for label, path in local.items():
        if not path.is_file():
            raise DataGouvError(f"{path} : fichier introuvable ; rien n'a été envoyé à data.gouv.fr")
    resources = _dataset_resources(api_url, dataset_id, api_key, timeout)
    report: list[dict] = []
    used: dict[str, str] = {}
    for label, path in local.items():
        entry = {"fichier": label, "chemin": str(path), "statut": "sans_ressource", "ressource": None, "url": None,
                 "octets": path.stat().st_size, "http": None}
        report.append(entry)
        matches = _match(label, path, resources)
        if not matches:
            log.warning("%s : aucune ressource du jeu %s ne correspond (titre ou nom de fichier) ; non envoyé",
                        label, dataset_id)
            continue
        if len(matches) > 1 or matches[0]["id"] in used:
            entry["statut"] = "ambigu"
            entry["ressource"] = [m["id"] for m in matches] if len(matches) > 1 else matches[0]["id"]
            log.warning("%s : plusieurs correspondances sur data.gouv.fr ; non envoyé", label)
            continue
        resource_id = str(matches[0]["id"])
        used[resource_id] = label
        entry["ressource"] = resource_id
        try:
            result = _upload(api_url, dataset_id, resource_id, path, api_key, timeout)
        except HTTPError as exc:
            entry["statut"], entry["http"] = "erreur", exc.code
            raise DataGouvError(f"{path.name} : envoi refusé par data.gouv.fr ({_status_text(exc)}) ; "
                                f"ressource {resource_id} du jeu {dataset_id}", report) from None
        except (URLError, OSError) as exc:
            entry["statut"] = "erreur"
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise DataGouvError(f"{path.name} : envoi vers data.gouv.fr impossible ({reason}) ; "
                                f"ressource {resource_id} du jeu {dataset_id}", report) from None
        entry.update(statut="remplace", url=result["url"], http=result["http"])
        log.info("%s envoyé sur data.gouv.fr (ressource %s, %d octets)", label, resource_id, entry["octets"])
    return report


def upload_if_configured(files: dict[str, Path], timeout: float = 600) -> list[dict] | None:
    """``upload_to_datagouv`` with the environment's configuration; None (and no request) when it is off."""
    config = upload_configured()
    if config is None:
        return None
    return upload_to_datagouv(files, config.dataset_id, config.api_key, config.api_url, timeout)
