"""Release tooling (pipelines/release): Excel and JSON exports, SHA256SUMS, DCAT catalogue, archives and changelog,
data.gouv.fr upload. Offline: publications come from the shipped sample, data.gouv.fr is a local server."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from pipelines import pipeline
from pipelines.pipeline import run_from_files
from pipelines.release import (DataGouvError, archive_snapshot, dcat_catalog, diff_tables, distribution,
                               latest_snapshot, read_sha256sums, release_manifest, upload_configured,
                               upload_if_configured, upload_to_datagouv, verify_sha256sums, write_changelog,
                               write_dcat, write_indicators_json, write_sha256sums, write_xlsx)
from pipelines.release import changelog
from pipelines.release import sums as sums_module
from pipelines.settings import SAMPLE_DIR, sample_files

CREATED = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.timezone.utc)
DAY = dt.date(2026, 11, 26)


# --- shared publications (the real publisher on the shipped sample) -------------------------------------------------

@pytest.fixture(scope="module")
def sample_publication(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pub-complete") / "published"
    run_from_files([SAMPLE_DIR], out)
    return out


@pytest.fixture(scope="module")
def smaller_publication(tmp_path_factory) -> Path:
    """The sample without its last DECP file: fewer contracts, and some consolidated versions differ."""
    files = [p for p in sample_files() if p.name != "decp-2024-demo-2025-04.json"]
    assert len(files) == len(sample_files()) - 1
    out = tmp_path_factory.mktemp("pub-reduite") / "published"
    run_from_files(files, out)
    return out


def _copy(publication: Path, target: Path) -> Path:
    # copyfile, not copy2: the copies must be writable even when the source files are read-only snapshots' links.
    shutil.copytree(publication, target, copy_function=shutil.copyfile)
    return target


def _package(folder: Path) -> dict:
    return json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))


def _all_files(folder: Path) -> list[str]:
    return [relative for _, relative in read_sha256sums(folder)] + ["SHA256SUMS"]


def _bytes_and_modes(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- Excel -------------------------------------------------------------------------------------------------------------

def _mixed_table() -> pd.DataFrame:
    return pd.DataFrame({
        "texte": ["=1+1", "+33 1 23", "@SUM(A1)", "-5", "\tcache", "ordinaire"],
        "entier": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
        "decimal": [1.5, float("nan"), 3.25, float("inf"), 0.0, -2.0],
        "booleen": pd.array([True, False, None, True, False, True], dtype="boolean"),
        "date": pd.to_datetime(["2025-03-01", None, "2024-12-31", "2025-01-02", "2023-06-30", "2022-02-28"]),
    })


def test_xlsx_sheets_text_never_formula_and_types(tmp_path):
    path = tmp_path / "observatoire.xlsx"
    tables = {"marches": _mixed_table(), "indicateurs": pd.DataFrame({"annee": [2024, 2025], "valeur": [0.01, 0.02]})}
    write_xlsx(tables, path, [("Source", "DECP (data.gouv.fr)"), ("Licence", "Licence Ouverte / Etalab 2.0")],
               created=CREATED)

    workbook = load_workbook(path)
    assert workbook.sheetnames == ["LISEZMOI", "marches", "indicateurs"]
    sheet = workbook["marches"]
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == ["texte", "entier", "decimal", "booleen", "date"]
    texts = [row[0] for row in rows[1:]]
    for cell, expected in zip(texts, ["=1+1", "+33 1 23", "@SUM(A1)", "-5", "\tcache", "ordinaire"]):
        assert cell.data_type == "s" and cell.value == expected
    # Values that a spreadsheet would evaluate also carry the quote prefix (they stay text once edited).
    assert all(c.quotePrefix for c in texts[:5]) and not texts[5].quotePrefix
    assert [r[1].value for r in rows[1:]] == [1, 2, None, 4, 5, 6]
    assert all(isinstance(r[1].value, int) for r in rows[1:] if r[1].value is not None)
    assert [r[2].value for r in rows[1:]] == [1.5, None, 3.25, None, 0, -2]  # NaN, inf → empty cells
    assert rows[1][2].data_type == "n"
    assert [r[3].value for r in rows[1:]] == [True, False, None, True, False, True]
    assert rows[1][4].value == dt.datetime(2025, 3, 1) and rows[2][4].value is None
    assert workbook["indicateurs"]["B3"].value == 0.02

    readme = {row[0]: row[1] for row in workbook["LISEZMOI"].iter_rows(values_only=True) if row[0]}
    assert readme["Source"] == "DECP (data.gouv.fr)"
    assert readme["Licence"] == "Licence Ouverte / Etalab 2.0"
    assert readme["Feuille « marches »"] == "6 lignes, 5 colonnes"
    assert not any("tronquée" in key for key in readme)
    # Properties come from ``created``, not from the clock.
    assert workbook.properties.created == dt.datetime(2026, 11, 26, 9, 30)
    assert workbook.properties.modified == dt.datetime(2026, 11, 26, 9, 30)


def test_xlsx_same_input_same_bytes(tmp_path):
    tables = {"marches": _mixed_table()}
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_xlsx(tables, first, [("Source", "x")], created=CREATED)
    os.utime(tmp_path, (0, 0))
    write_xlsx(tables, second, [("Source", "x")], created=CREATED)
    assert first.read_bytes() == second.read_bytes()


def test_xlsx_truncates_long_tables_and_says_so(tmp_path):
    path = tmp_path / "t.xlsx"
    long = pd.DataFrame({"uid": [f"m{i}" for i in range(5)], "n": range(5)})
    write_xlsx({"marches": long, "court": long.head(2)}, path, [("Source", "x")], max_rows=3)
    workbook = load_workbook(path)
    assert workbook["marches"].max_row == 3  # header + the first 2 rows
    assert [r[0] for r in workbook["marches"].iter_rows(min_row=2, values_only=True)] == ["m0", "m1"]
    assert workbook["court"].max_row == 3
    readme = {row[0]: row[1] for row in workbook["LISEZMOI"].iter_rows(values_only=True) if row[0]}
    note = readme["Feuille « marches » tronquée"]
    assert "2 premières lignes sur 5" in note and "CSV et Parquet" in note and "complets" in note
    assert "Feuille « court » tronquée" not in readme


def test_xlsx_control_characters_and_bad_sheet_names(tmp_path):
    path = tmp_path / "t.xlsx"
    write_xlsx({"t": pd.DataFrame({"x": ["a\x01b", "ok"]})}, path, [])
    workbook = load_workbook(path)
    assert workbook["t"]["A2"].value == "ab"
    assert any("caractères retirés" in str(row[0]) for row in workbook["LISEZMOI"].iter_rows(values_only=True))
    with pytest.raises(ValueError, match=r"bad\.xlsx.*nom de feuille"):
        write_xlsx({"a/b": pd.DataFrame()}, tmp_path / "bad.xlsx", [])
    with pytest.raises(ValueError, match="LISEZMOI"):
        write_xlsx({"lisezmoi": pd.DataFrame()}, tmp_path / "bad.xlsx", [])
    assert not (tmp_path / "bad.xlsx").exists()


def test_xlsx_from_the_pipeline_tables(tmp_path):
    """The DataFrames the publisher holds (nullable Int64/Float64/boolean, datetime64) go through unchanged."""
    normalized = pipeline.normalize(pipeline.ingest([SAMPLE_DIR]))
    marches = pipeline.classify_marches(normalized.marches)
    tables = {"marches": marches, "titulaires": normalized.titulaires, "rejets": normalized.rejets}
    path = tmp_path / "observatoire.xlsx"
    write_xlsx(tables, path, [("Source", "échantillon")], created=CREATED)
    workbook = load_workbook(path, read_only=True)
    assert workbook.sheetnames == ["LISEZMOI", "marches", "titulaires", "rejets"]
    # The used range is declared: streaming readers know the size and get full rows, trailing empty cells included.
    assert (workbook["marches"].max_row, workbook["marches"].max_column) == (len(marches) + 1, marches.shape[1])
    rows = list(workbook["marches"].iter_rows(values_only=True))
    assert len(rows) == len(marches) + 1 and list(rows[0]) == list(marches.columns)
    assert {len(row) for row in rows} == {marches.shape[1]}
    first = dict(zip(rows[0], rows[1]))
    assert first["uid"] == marches["uid"].iloc[0]
    assert isinstance(first["annee"], int) and isinstance(first["innovant"], bool)
    assert first["date_notification"].date() == marches["date_notification"].iloc[0].date()
    workbook.close()


# --- JSON ------------------------------------------------------------------------------------------------------------

def _no_nan(constant):
    raise AssertionError(f"constante non JSON : {constant}")


def test_indicators_json(tmp_path, sample_publication):
    indicateurs = pd.read_csv(sample_publication / "data/indicateurs.csv")
    assert indicateurs["valeur"].isna().any()  # the sample has missing values: they must become null
    path = tmp_path / "indicateurs.json"
    write_indicators_json(indicateurs, path, {"titre": "Indicateurs", "cree": CREATED, "licence": "etalab-2.0"})
    text = path.read_text(encoding="utf-8")
    document = json.loads(text, parse_constant=_no_nan)
    assert set(document) == {"metadata", "indicateurs"}
    assert len(document["indicateurs"]) == len(indicateurs) == document["metadata"]["nb_lignes"]
    assert document["metadata"]["cree"] == "2026-11-26T09:30:00+00:00"
    assert document["metadata"]["champs"] == list(indicateurs.columns)
    first = document["indicateurs"][0]
    assert list(first) == sorted(first)
    assert isinstance(first["annee"], int) and isinstance(first["cible"], float)
    missing = indicateurs["valeur"].isna().to_numpy().nonzero()[0][0]
    assert document["indicateurs"][missing]["valeur"] is None
    assert [r["annee"] for r in document["indicateurs"]] == indicateurs["annee"].tolist()  # table order kept
    write_indicators_json(indicateurs, path, {"titre": "Indicateurs", "cree": CREATED, "licence": "etalab-2.0"})
    assert path.read_text(encoding="utf-8") == text


# --- SHA256SUMS ------------------------------------------------------------------------------------------------------

def _small_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pub"
    (folder / "data").mkdir(parents=True)
    (folder / "data/b.csv").write_text("x\n1\n", encoding="utf-8")
    (folder / "datapackage.json").write_text("{}\n", encoding="utf-8")
    (folder / "archive/2026-01-01").mkdir(parents=True)
    (folder / "archive/2026-01-01/old.csv").write_text("old\n", encoding="utf-8")
    return folder


def test_sha256sums_written_and_verified(tmp_path):
    folder = _small_folder(tmp_path)
    sums = write_sha256sums(folder)
    lines = sums.read_text(encoding="utf-8").splitlines()
    assert [line.split("  ")[1] for line in lines] == ["data/b.csv", "datapackage.json"]  # sorted, archive/ excluded
    import hashlib
    assert lines[0] == hashlib.sha256(b"x\n1\n").hexdigest() + "  data/b.csv"
    assert verify_sha256sums(folder) == []
    assert verify_sha256sums(folder, strict=True) == []

    (folder / "data/b.csv").write_text("x\n2\n", encoding="utf-8")
    problems = verify_sha256sums(folder)
    assert len(problems) == 1 and problems[0].startswith("data/b.csv : empreinte sha256 différente")
    (folder / "data/b.csv").unlink()
    assert verify_sha256sums(folder) == ["data/b.csv : fichier absent"]
    (folder / "extra.txt").write_text("?", encoding="utf-8")
    assert "extra.txt : présent mais absent de SHA256SUMS" in verify_sha256sums(folder, strict=True)
    (folder / "SHA256SUMS").unlink()
    assert verify_sha256sums(folder)[0].endswith("SHA256SUMS : fichier absent")


def test_sha256sums_refuses_paths_outside_without_reading(tmp_path, monkeypatch):
    folder = _small_folder(tmp_path)
    write_sha256sums(folder)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n", encoding="utf-8")
    (folder / "lien").symlink_to(outside)
    import hashlib
    good = hashlib.sha256(b"secret\n").hexdigest()
    with (folder / "SHA256SUMS").open("a", encoding="utf-8") as handle:
        handle.write(f"{good}  ../outside.txt\n{good}  /etc/passwd\n{good}  data/../../outside.txt\n"
                     f"{good}  lien\n{good}  C:/Windows/win.ini\nnot a line\n")
    opened: list[Path] = []
    real = sums_module.sha256_file
    monkeypatch.setattr(sums_module, "sha256_file", lambda p: opened.append(Path(p)) or real(p))
    problems = verify_sha256sums(folder)
    assert len(problems) == 6
    for bad in ("../outside.txt", "/etc/passwd", "data/../../outside.txt", "lien", "C:/Windows/win.ini"):
        assert any(bad in p and "refusé, non lu" in p for p in problems), bad
    assert any("format invalide" in p for p in problems)
    assert all(folder.resolve() in p.resolve().parents for p in opened)  # only files of the folder were hashed
    assert outside.resolve() not in {p.resolve() for p in opened}


# --- DCAT ------------------------------------------------------------------------------------------------------------

def _nodes(document: dict, kind: str) -> list[dict]:
    return [n for n in document["@graph"] if n.get("@type") == kind]


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()


@pytest.mark.parametrize("base_url", ["https://observatoire.example.fr/publication", None])
def test_dcat_catalog_describes_every_file(tmp_path, sample_publication, base_url):
    folder = _copy(sample_publication, tmp_path / "pub")
    package = _package(folder)
    write_xlsx({"marches": pd.read_csv(folder / "data/marches.csv", dtype=str)}, folder / "data/observatoire.xlsx",
               [("Source", "x")], created=CREATED)
    (folder / "index.html").write_text("<!doctype html><title>Observatoire</title>\n", encoding="utf-8")
    extras = [distribution(folder, "data/observatoire.xlsx", "Tables au format Excel"),
              distribution(folder, "index.html", "Page de présentation")]
    target = write_dcat(folder, package, base_url, extras, years=[2023, 2019, 2025], version="2026-11-26")
    assert target.name == "catalog.jsonld"
    document = json.loads(target.read_text(encoding="utf-8"))

    context = document["@context"]
    assert {"dcat", "dct", "foaf", "vcard", "xsd", "adms", "spdx"} <= set(context)
    prefixes = {k.split(":")[0] for k in _keys(document) if not k.startswith("@")}
    assert prefixes <= set(context)  # every property is a declared compact IRI
    [catalog], [dataset] = _nodes(document, "dcat:Catalog"), _nodes(document, "dcat:Dataset")
    distributions = _nodes(document, "dcat:Distribution")
    assert catalog["dcat:dataset"] == [{"@id": dataset["@id"]}]
    assert {d["@id"] for d in dataset["dcat:distribution"]} == {d["@id"] for d in distributions}
    assert dataset["dct:license"] == {"@id": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"}
    assert dataset["dct:title"]["@value"] == package["title"]
    assert dataset["dct:issued"]["@value"] == dataset["dct:modified"]["@value"] == package["created"]
    assert dataset["dct:temporal"]["dcat:startDate"]["@value"] == "2019-01-01"
    assert dataset["dct:temporal"]["dcat:endDate"]["@value"] == "2025-12-31"
    assert {k["@value"] for k in dataset["dcat:keyword"]} == set(package["keywords"])

    prefix = (base_url + "/") if base_url else ""
    by_url = {d["dcat:downloadURL"]["@id"]: d for d in distributions}
    expected = {r["path"]: r for r in package["resources"]}
    expected |= {o["path"]: o for r in package["resources"] for o in r["autres_formats"]}
    assert any(p.endswith(".parquet") for p in expected)
    for path, described in expected.items():
        node = by_url[prefix + path]
        assert node["spdx:checksum"]["spdx:checksumValue"]["@value"] == described["hash"].removeprefix("sha256:")
        assert node["dcat:byteSize"]["@value"] == str(described["bytes"])
        assert node["dcat:accessURL"] == node["dcat:downloadURL"]
    for extra in extras:
        node = by_url[prefix + extra["path"]]
        assert node["spdx:checksum"]["spdx:checksumValue"]["@value"] == extra["sha256"]
    assert by_url[prefix + "data/marches.csv"]["dct:format"]["@id"].endswith("/file-type/CSV")
    assert by_url[prefix + "data/marches.csv"]["dcat:mediaType"]["@id"].endswith("/text/csv")
    assert by_url[prefix + "data/observatoire.xlsx"]["dct:format"]["@id"].endswith("/file-type/XLSX")
    assert len(distributions) == len(expected) + len(extras)
    if base_url:
        assert dataset["dcat:landingPage"] == {"@id": base_url + "/index.html"}
    else:
        assert "dcat:landingPage" not in dataset

    try:
        import rdflib
    except ImportError:
        return
    graph = rdflib.Graph().parse(data=json.dumps(document), format="json-ld",
                                 publicID=(base_url or "https://base.invalid") + "/catalog.jsonld")
    dcat = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    assert len(set(graph.subjects(rdflib.RDF.type, dcat.Distribution))) == len(distributions)


def test_dcat_refuses_inconsistent_descriptions(sample_publication):
    package = _package(sample_publication)
    with pytest.raises(ValueError, match="data/marches.csv décrit deux fois"):
        dcat_catalog(package, None, [{"path": "data/marches.csv", "title": "doublon"}])
    with pytest.raises(ValueError, match="refusé"):
        dcat_catalog(package, None, [{"path": "../ailleurs.csv", "title": "hors dossier"}])
    broken = json.loads(json.dumps(package))
    broken["resources"][0]["hash"] = "md5:1234"
    with pytest.raises(ValueError, match="data/marches.csv : empreinte sha256 invalide"):
        dcat_catalog(broken, None, [])


# --- archive and changelog -------------------------------------------------------------------------------------------

def _oracle(previous: Path, current: Path, key: list[str]) -> dict:
    """Row differences computed the obvious way, to check the hashed comparison against."""
    before = pd.read_csv(previous, dtype=str, keep_default_na=False).set_index(key)
    after = pd.read_csv(current, dtype=str, keep_default_na=False).set_index(key)
    common = before.index.intersection(after.index)
    columns = [c for c in after.columns if c in before.columns]
    changed = (before.loc[common, columns] != after.loc[common, columns]).any(axis=1)
    return {"ajoutees": len(after.index.difference(before.index)), "supprimees": len(before.index.difference(after.index)),
            "modifiees": int(changed.sum()), "inchangees": int((~changed).sum())}


def test_two_publications_same_day(tmp_path, sample_publication, smaller_publication):
    archive_root = tmp_path / "archives"
    first = _copy(sample_publication, tmp_path / "pub1")
    second = _copy(smaller_publication, tmp_path / "pub2")
    assert latest_snapshot(archive_root) is None

    write_sha256sums(first)
    snap1 = archive_snapshot(first, archive_root, DAY, _all_files(first))
    assert snap1 == archive_root / "2026-11-26"
    write_changelog(archive_root, release_manifest(first, None, None, snap1.name, date=CREATED))
    frozen = _bytes_and_modes(snap1)
    assert all(mode & 0o222 == 0 for _, mode in frozen.values())  # read-only
    assert verify_sha256sums(snap1) == []

    write_sha256sums(second)
    previous = latest_snapshot(archive_root)
    assert previous == snap1
    snap2 = archive_snapshot(second, archive_root, DAY, _all_files(second), previous=previous)
    assert snap2 == archive_root / "2026-11-26.2"
    entry = release_manifest(second, previous, None, snap2.name, date=CREATED + dt.timedelta(hours=2))
    releases_path, changelog_path = write_changelog(archive_root, entry)

    assert _bytes_and_modes(snap1) == frozen  # the first snapshot is untouched
    assert verify_sha256sums(snap2) == []
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o222 == 0 for p in snap2.rglob("*") if p.is_file())
    # Unchanged files are stored once: the schema of the second snapshot is the first one's file.
    assert os.path.samefile(snap2 / "schemas/marches.json", snap1 / "schemas/marches.json")
    assert latest_snapshot(archive_root) == snap2

    releases = json.loads(releases_path.read_text(encoding="utf-8"))
    assert releases[1]["precedente"] == "2026-11-26"
    listed = {f["path"]: f for f in releases[1]["fichiers"]}
    assert listed["data/marches.csv"]["rows"] == len(pd.read_csv(second / "data/marches.csv", dtype=str))
    assert listed["data/marches.parquet"]["rows"] == listed["data/marches.csv"]["rows"]
    assert listed["datapackage.json"]["rows"] is None and "SHA256SUMS" in listed

    changes = releases[1]["changements"]
    for table in ("marches", "titulaires", "concessions"):
        key = changes[table]["cle_primaire"]
        expected = _oracle(first / f"data/{table}.csv", second / f"data/{table}.csv", key)
        assert {k: changes[table][k] for k in expected} == expected, table
    assert changes["marches"]["supprimees"] > 0  # the removed file's contracts are gone
    assert releases[0]["changements"]["marches"] == {"ajoutees": 87, "supprimees": 0, "modifiees": 0,
                                                     "inchangees": 0, "cle_primaire": ["uid"]}

    changelog = changelog_path.read_text(encoding="utf-8")
    assert changelog.index("## 2026-11-26 — publication 2026-11-26.2") < \
        changelog.index("## 2026-11-26 — publication 2026-11-26\n")
    m = changes["marches"]
    total = m["ajoutees"] + m["modifiees"] + m["inchangees"]
    assert (f"- marches : {m['ajoutees']} ligne{'s' if m['ajoutees'] != 1 else ''} ajoutée"
            in changelog.split("publication 2026-11-26\n")[0])
    assert f"supprimées ({total} au total)" in changelog
    assert "- marches : 87 lignes ajoutées, 0 modifiées, 0 supprimées (87 au total)" in changelog


def test_changelog_counts_edited_rows_exactly(tmp_path, sample_publication):
    archive_root = tmp_path / "archives"
    first = _copy(sample_publication, tmp_path / "pub1")
    write_sha256sums(first)
    snap1 = archive_snapshot(first, archive_root, DAY, _all_files(first))
    write_changelog(archive_root, release_manifest(first, None, None, snap1.name, date=CREATED))

    second = _copy(first, tmp_path / "pub2")
    marches = pd.read_csv(second / "data/marches.csv", dtype=str, keep_default_na=False)
    edited = marches.iloc[3:].copy()  # 3 rows removed
    edited.iloc[0, edited.columns.get_loc("objet")] += " (modifié)"  # 2 rows modified
    edited.iloc[1, edited.columns.get_loc("montant")] = "1"
    added = edited.iloc[[2]].copy()
    added["uid"] = "NOUVEAU-1"  # 1 row added
    pd.concat([edited, added]).to_csv(second / "data/marches.csv", index=False)
    rejets = pd.read_csv(second / "data/rejets.csv", dtype=str, keep_default_na=False)
    pd.concat([rejets, rejets]).to_csv(second / "data/rejets.csv", index=False)  # no key: one identical row more
    write_sha256sums(second)
    snap2 = archive_snapshot(second, archive_root, DAY, _all_files(second), previous=snap1)
    entry = release_manifest(second, snap1, None, snap2.name, date=CREATED)
    _, changelog_path = write_changelog(archive_root, entry)
    changelog = changelog_path.read_text(encoding="utf-8")

    assert "- marches : 1 ligne ajoutée, 2 modifiées, 3 supprimées (85 au total)" in changelog
    assert "- titulaires : 0 lignes ajoutées, 0 modifiées, 0 supprimées (90 au total)" in changelog
    assert ("- rejets : 1 ligne ajoutée, 0 supprimées (2 au total ; table sans clé primaire, lignes comparées en "
            "entier)") in changelog
    # A retried run replaces its entry instead of listing the release twice.
    write_changelog(archive_root, entry)
    releases = json.loads((archive_root / "releases.json").read_text(encoding="utf-8"))
    assert [r["version"] for r in releases] == ["2026-11-26", "2026-11-26.2"]


def test_checked_table_with_the_previous_bytes_is_not_read_again(tmp_path, sample_publication, monkeypatch):
    archive_root = tmp_path / "archives"
    first = _copy(sample_publication, tmp_path / "pub1")
    write_sha256sums(first)
    snap1 = archive_snapshot(first, archive_root, DAY, _all_files(first))
    second = _copy(first, tmp_path / "pub2")
    rejets = pd.read_csv(second / "data/rejets.csv", dtype=str, keep_default_na=False)
    pd.concat([rejets, rejets.iloc[[0]]]).to_csv(second / "data/rejets.csv", index=False)
    package = json.loads((second / "datapackage.json").read_text(encoding="utf-8"))
    declared = {r["name"]: r["nb_lignes"] for r in package["resources"] if "nb_lignes" in r}
    for resource in package["resources"]:
        if resource["name"] == "rejets":
            resource["nb_lignes"] += 1
    (second / "datapackage.json").write_text(json.dumps(package), encoding="utf-8")
    sums = dict((relative, digest) for digest, relative in sums_module.read_sha256sums(write_sha256sums(second).parent))
    read = []
    real = changelog._read_hashed
    monkeypatch.setattr(changelog, "_read_hashed", lambda path, *args: read.append(path.name) or real(path, *args))

    entry = release_manifest(second, snap1, None, "2", date=CREATED, digests=sums, checked=True)
    changes = entry["changements"]
    # Only the table whose bytes changed is read, in both versions; the others count as unchanged, every row.
    assert sorted(read) == ["rejets.csv", "rejets.csv"]
    assert changes["marches"] == {"ajoutees": 0, "supprimees": 0, "modifiees": 0,
                                  "inchangees": declared["marches"], "cle_primaire": ["uid"]}
    assert changes["rejets"]["ajoutees"] == 1
    assert {f["path"]: f["rows"] for f in entry["fichiers"]}["data/marches.csv"] == declared["marches"]
    # Without the publisher's checked counts, the same folder is compared by reading: the same counts.
    assert release_manifest(second, snap1, None, "2", date=CREATED)["changements"] == changes


def _check_and_keep(folder: Path, cache: Path) -> list:
    from pipelines import table_checks

    return table_checks.check_package(folder, _package(folder), lambda relative: json.loads(
        (folder / relative).read_text(encoding="utf-8")), digests_cache=cache)


def test_row_digests_kept_by_the_checks_are_the_changelogs(tmp_path, sample_publication):
    import numpy as np

    from pipelines import row_digests
    from pipelines.files import sha256_file

    cache = tmp_path / "cache"
    assert _check_and_keep(sample_publication, cache) == []
    keys = changelog.primary_keys_from_package(sample_publication)
    tables = changelog._csv_tables(sample_publication)
    assert len(list((cache / row_digests.FOLDER).glob("*.arrow"))) == len(tables)
    for name, resource in tables.items():
        path = sample_publication / resource["path"]
        header = changelog._header(path)
        kept = row_digests.load(cache, sha256_file(path), header, keys[name])
        read = changelog._read_hashed(path, keys[name], header)
        assert len(kept) == len(read) == resource["nb_lignes"]
        assert np.array_equal(kept.digests, read.digests), name
        if keys[name]:
            assert kept.keys.to_pylist() == read.keys.to_pylist()
    # Another column list or key is another set of digests: not taken for these.
    marches = sample_publication / "data/marches.csv"
    assert row_digests.load(cache, sha256_file(marches), changelog._header(marches)[1:], ["uid"]) is None


def test_changelog_reads_no_csv_when_both_versions_digests_were_kept(tmp_path, sample_publication, monkeypatch):
    import hashlib

    cache = tmp_path / "cache"
    archive_root = tmp_path / "archives"
    first = _copy(sample_publication, tmp_path / "pub1")
    assert _check_and_keep(first, cache) == []
    write_sha256sums(first)
    snap1 = archive_snapshot(first, archive_root, DAY, _all_files(first))
    second = _copy(first, tmp_path / "pub2")
    marches = pd.read_csv(second / "data/marches.csv", dtype=str, keep_default_na=False)
    marches.loc[0, "objet"] += " (modifié)"
    marches.loc[1, "acheteur_nom"] += " (modifié)"
    marches.to_csv(second / "data/marches.csv", index=False)  # two rows modified
    package = _package(second)
    data = (second / "data/marches.csv").read_bytes()
    for resource in package["resources"]:
        if resource["path"] == "data/marches.csv":
            resource.update(hash="sha256:" + hashlib.sha256(data).hexdigest(), bytes=len(data))
    (second / "datapackage.json").write_text(json.dumps(package), encoding="utf-8")
    assert _check_and_keep(second, cache) == []
    sums = {relative: digest for digest, relative in sums_module.read_sha256sums(write_sha256sums(second).parent)}

    read = []
    real = changelog._read_hashed
    monkeypatch.setattr(changelog, "_read_hashed", lambda path, *args: read.append(path.name) or real(path, *args))
    entry = release_manifest(second, snap1, None, "2", date=CREATED, digests=sums, checked=True, cache=cache)
    assert read == []
    assert entry["changements"]["marches"] == {"ajoutees": 0, "supprimees": 0, "modifiees": 2,
                                               "inchangees": len(marches) - 2, "cle_primaire": ["uid"]}
    # The same counts when every CSV is read.
    assert release_manifest(second, snap1, None, "2", date=CREATED)["changements"] == entry["changements"]
    assert sorted(set(read)) == sorted(p.name for p in (second / "data").glob("*.csv"))


def test_row_digests_are_the_same_in_every_process_and_kept_whole(tmp_path, monkeypatch):
    import subprocess
    import sys

    import numpy as np
    import pyarrow as pa

    from pipelines import row_digests

    texts = ["a\x1f\x1fb", "", "é" * 50, "x"]
    here = row_digests.digests_of(pa.array(texts)).tolist()
    code = ("import json, sys, pyarrow as pa; from pipelines import row_digests; "
            "print(json.dumps(row_digests.digests_of(pa.array(json.loads(sys.argv[1]))).tolist()))")
    there = subprocess.run([sys.executable, "-c", code, json.dumps(texts)], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "random"}).stdout
    assert json.loads(there) == here and len(set(here)) == len(texts)

    # A two-column key is joined as rows are, its separators escaped: ("k\x1f", "1") and ("k", "\x1f1") differ.
    hasher = row_digests.Hasher(["a", "b"], escape=True)
    hasher.add(pa.table({"a": ["k\x1f", "k"], "b": ["1", "\x1f1"], "v": ["x", "y"]}), ["a", "b", "v"])
    found = hasher.result()
    assert found.keys[0] != found.keys[1] and found.digests[0] != found.digests[1]
    monkeypatch.setattr(row_digests, "KEPT_FILES", 2)
    shas = [f"{n:064x}" for n in range(3)]
    for n, sha in enumerate(shas):
        row_digests.store(tmp_path, sha, ["a", "b", "v"], ["a", "b"], found)
        os.utime(row_digests._path(tmp_path, sha, ["a", "b", "v"], ["a", "b"]), (1000 + n, 1000 + n))
    kept = row_digests.load(tmp_path, shas[2], ["a", "b", "v"], ["a", "b"])
    assert np.array_equal(kept.digests, found.digests) and kept.escape
    assert kept.keys.to_pylist() == found.keys.to_pylist()
    assert kept.key_columns.to_pylist() == found.key_columns.to_pylist()
    # The oldest kept file was deleted when the third was kept; another column list is another file.
    assert row_digests.load(tmp_path, shas[0], ["a", "b", "v"], ["a", "b"]) is None
    assert row_digests.load(tmp_path, shas[2], ["a", "b"], ["a", "b"]) is None
    assert len(list((tmp_path / row_digests.FOLDER).glob("*.arrow"))) == 2


@pytest.mark.parametrize("apart", [False, True], ids=["here", "previous-in-child"])
def test_diff_tables_small_cases(tmp_path, monkeypatch, apart):
    if apart:  # the previous version hashed in a forked process, as national tables are: same digests, same counts
        monkeypatch.setattr(changelog, "PARALLEL_MIN_BYTES", 0)

    def csv(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    before = csv("a.csv", 'id,v\n1,a\n2,b\n3,"multi\nligne"\n')
    after = csv("b.csv", 'id,v\n1,a\n2,B\n4,d\n')
    assert diff_tables(before, after, ["id"]) == {"ajoutees": 1, "supprimees": 1, "modifiees": 1, "inchangees": 1}
    assert diff_tables(None, after, ["id"]) == {"ajoutees": 3, "supprimees": 0, "modifiees": 0, "inchangees": 0}
    assert diff_tables(before, after, []) == {"ajoutees": 2, "supprimees": 2, "modifiees": 0, "inchangees": 1}
    # "" and "NA" are values, not missing: a change between them is a change.
    assert diff_tables(csv("c.csv", "id,v\n1,\n"), csv("d.csv", "id,v\n1,NA\n"), ["id"])["modifiees"] == 1
    # A value moved to the next column changes the row (values are joined with a separator before hashing); a
    # quoted empty value is the empty value.
    moved = diff_tables(csv("h.csv", "id,v,w\n1,ab,\n2,x,\n"), csv("i.csv", 'id,v,w\n1,a,b\n2,x,""\n'), ["id"])
    assert moved == {"ajoutees": 0, "supprimees": 0, "modifiees": 1, "inchangees": 1}
    # Even when a value holds the separator itself (control characters do reach published cells).
    tricky = diff_tables(csv("j.csv", "id,v,w\n1,x\x1fy,z\n2,\x1f\x1e,a\n"),
                         csv("k.csv", "id,v,w\n1,x,y\x1fz\n2,\x1f\x1e,a\n"), ["id"])
    assert tricky == {"ajoutees": 0, "supprimees": 0, "modifiees": 1, "inchangees": 1}
    # A key of two columns: its values joined as rows are, so that ("a\x1f", "b") and ("a", "\x1fb") differ.
    pair = diff_tables(csv("l.csv", "k,l,v\na\x1f,b,1\na,b,2\n"), csv("m.csv", "k,l,v\na,\x1fb,1\na,b,3\n"), ["k", "l"])
    assert pair == {"ajoutees": 1, "supprimees": 1, "modifiees": 1, "inchangees": 0}
    with pytest.raises(ValueError, match=r"n\.csv : clé primaire \(k, l\) en double : \('a', 'b'\)"):
        diff_tables(None, csv("n.csv", "k,l,v\nz,b,0\na,b,1\na,b,2\n"), ["k", "l"])
    # Keys in order (as published) are checked between neighbours: the same error.
    with pytest.raises(ValueError, match=r"o\.csv : clé primaire \(k, l\) en double : \('a', 'b'\)"):
        diff_tables(None, csv("o.csv", "k,l,v\na,a,0\na,b,1\na,b,2\nz,b,0\n"), ["k", "l"])
    # A rank in order as a number (9 before 10) is compared as one; equal numbers of other texts ("01", "1") are
    # left to the exact check, which finds them distinct.
    ranks = csv("p.csv", "uid,rang,v\na,1,x\na,9,x\na,10,x\nb,01,x\nb,1,x\n")
    assert diff_tables(None, ranks, ["uid", "rang"])["ajoutees"] == 5
    assert changelog._unique_in_order(changelog._read_hashed(csv("q.csv", "uid,rang\na,1\na,9\na,10\nb,2\n"),
                                                             ["uid", "rang"], ["uid", "rang"]))
    assert not changelog._unique_in_order(changelog._read_hashed(ranks, ["uid", "rang"], ["uid", "rang", "v"]))
    with pytest.raises(ValueError, match=r"r\.csv : clé primaire \(uid, rang\) en double : \('a', '10'\)"):
        diff_tables(None, csv("r.csv", "uid,rang\na,9\na,10\na,10\n"), ["uid", "rang"])
    widened = csv("e.csv", "id,v,w\n1,a,x\n2,b,y\n3,c,z\n")
    result = diff_tables(csv("f.csv", "id,v\n1,a\n2,b\n3,c\n"), widened, ["id"])
    assert result == {"ajoutees": 0, "supprimees": 0, "modifiees": 0, "inchangees": 3, "colonnes_ajoutees": ["w"]}
    with pytest.raises(ValueError, match=r"b\.csv.*clé primaire absente.*uid"):
        diff_tables(before, after, ["uid"])
    with pytest.raises(ValueError, match=r"g\.csv.*en double"):
        diff_tables(before, csv("g.csv", "id,v\n1,a\n1,b\n"), ["id"])


def test_archive_refuses_bad_paths_and_leaves_nothing(tmp_path):
    folder = _small_folder(tmp_path)
    root = tmp_path / "archives"
    with pytest.raises(ValueError, match=r"\.\./x"):
        archive_snapshot(folder, root, DAY, ["data/b.csv", "../x"])
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        archive_snapshot(folder, root, DAY, ["data/b.csv", "data/absent.csv"])
    assert not root.exists() or not any(root.iterdir())


# --- data.gouv.fr ----------------------------------------------------------------------------------------------------

KEY = "cle-secrete-de-test"


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    (tmp_path / "marches.csv").write_bytes(b"uid,objet\nX,=1+1\n")
    (tmp_path / "inconnu.csv").write_bytes(b"a\n")
    return {"marches.csv": tmp_path / "marches.csv", "Fichier sans ressource": tmp_path / "inconnu.csv"}


def _dataset(httpserver, resources: list[dict]) -> str:
    httpserver.expect_request("/api/1/datasets/ds-1/", method="GET").respond_with_json({"id": "ds-1",
                                                                                        "resources": resources})
    return httpserver.url_for("/api/1")


RESOURCES = [
    {"id": "r-titre", "title": "Autre chose", "url": "https://static.data.gouv.fr/resources/obs/20260101/marches.csv"},
    {"id": "r-pdf", "title": "Documentation", "url": "https://static.data.gouv.fr/resources/obs/doc.pdf"},
]


def test_upload_replaces_matching_resource(httpserver, files):
    api = _dataset(httpserver, RESOURCES)
    received = {}

    def handler(request):
        from werkzeug import Response

        received["key"] = request.headers.get("X-API-KEY")
        received["content_type"] = request.headers.get("Content-Type")
        received["file"] = request.files["file"].read()
        received["filename"] = request.files["file"].filename
        return Response(json.dumps({"id": "r-titre", "url": "https://static.data.gouv.fr/resources/obs/2/marches.csv"}),
                        content_type="application/json")

    httpserver.expect_request("/api/1/datasets/ds-1/resources/r-titre/upload/", method="POST",
                              headers={"X-API-KEY": KEY}).respond_with_handler(handler)
    report = upload_to_datagouv(files, "ds-1", KEY, api)
    assert received == {"key": KEY, "content_type": received["content_type"], "file": b"uid,objet\nX,=1+1\n",
                        "filename": "marches.csv"}
    assert received["content_type"].startswith("multipart/form-data; boundary=")
    assert report[0] == {"fichier": "marches.csv", "chemin": str(files["marches.csv"]), "statut": "remplace",
                         "ressource": "r-titre", "url": "https://static.data.gouv.fr/resources/obs/2/marches.csv",
                         "octets": len(b"uid,objet\nX,=1+1\n"), "http": 200}
    assert report[1]["statut"] == "sans_ressource" and report[1]["ressource"] is None
    assert len(httpserver.log) == 2  # the dataset read and one upload: nothing created for the unmatched file
    assert KEY not in repr(report)


def test_upload_matches_by_title_first(httpserver, tmp_path):
    (tmp_path / "indicateurs.json").write_bytes(b"{}")
    api = _dataset(httpserver, [{"id": "r-1", "title": "Indicateurs (JSON)", "url": "https://x/y/autre.json"}])
    httpserver.expect_request("/api/1/datasets/ds-1/resources/r-1/upload/", method="POST").respond_with_json({})
    report = upload_to_datagouv({"Indicateurs (JSON)": tmp_path / "indicateurs.json"}, "ds-1", KEY, api)
    assert report[0]["statut"] == "remplace" and report[0]["ressource"] == "r-1"


def test_upload_refused_names_file_and_status(httpserver, files):
    api = _dataset(httpserver, RESOURCES)
    httpserver.expect_request("/api/1/datasets/ds-1/resources/r-titre/upload/", method="POST").respond_with_json(
        {"message": "Forbidden"}, status=403)
    with pytest.raises(DataGouvError, match=r"marches\.csv.*HTTP 403.*Forbidden") as caught:
        upload_to_datagouv(files, "ds-1", KEY, api)
    assert KEY not in str(caught.value)
    assert caught.value.report[0]["statut"] == "erreur" and caught.value.report[0]["http"] == 403


def test_upload_refuses_redirects_and_plain_http(httpserver, files):
    api = _dataset(httpserver, RESOURCES)
    httpserver.expect_request("/api/1/datasets/ds-1/resources/r-titre/upload/", method="POST").respond_with_data(
        "", status=302, headers={"Location": "http://ailleurs.invalid/vol-de-cle"})
    with pytest.raises(DataGouvError, match=r"marches\.csv.*HTTP 302"):
        upload_to_datagouv(files, "ds-1", KEY, api)
    with pytest.raises(ValueError, match="https"):
        upload_to_datagouv(files, "ds-1", KEY, "http://www.data.gouv.fr/api/1")


def test_upload_off_unless_configured(httpserver, files, monkeypatch):
    for name in ("ACHATS_DATAGOUV_API_KEY", "ACHATS_DATAGOUV_DATASET", "ACHATS_DATAGOUV_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACHATS_DATAGOUV_API_URL", httpserver.url_for("/api/1"))
    assert upload_configured() is None
    assert upload_if_configured(files) is None
    monkeypatch.setenv("ACHATS_DATAGOUV_API_KEY", KEY)
    assert upload_configured() is None  # a key without a dataset is still off
    assert len(httpserver.log) == 0
    monkeypatch.setenv("ACHATS_DATAGOUV_DATASET", "ds-1")
    config = upload_configured()
    assert config == (KEY, "ds-1", httpserver.url_for("/api/1"))
    assert KEY not in repr(config) and KEY not in str(config)
