"""The publication for people and portals, end to end: two runs of the real publisher on different inputs, then
the report in headless Chromium (offline), checksums, catalogue, archives, changelog and workbook."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest
from frictionless import validate

from pipelines import release
from pipelines.pipeline import run_from_files
from pipelines.settings import SAMPLE_DIR, sample_files
from tests.test_report import _chromium, _run_chromium

FORMULA = '=HYPERLINK("http://exemple.invalid","cliquer")'


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """First run: the whole sample. Second run: one file fewer, and a contract whose objet looks like a formula."""
    root = tmp_path_factory.mktemp("publication")
    out = root / "published"
    first_inputs = sample_files()
    run_from_files(first_inputs, out)
    first = pd.read_csv(out / "data/marches.csv", dtype=str, keep_default_na=False)

    edited = root / "entrees"
    edited.mkdir()
    source = SAMPLE_DIR / "decp-2024-demo-2025-03.json"
    document = json.loads(source.read_text(encoding="utf-8"))
    # A contract that no later file republishes (a newer version would replace the edited objet).
    later = json.loads((SAMPLE_DIR / "decp-2024-demo-2025-04.json").read_text(encoding="utf-8"))
    republished = {m["id"] for m in later["marches"]["marche"]}
    contract = next(m for m in document["marches"]["marche"] if m["id"] not in republished)
    contract["objet"] = FORMULA
    (edited / source.name).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    second_inputs = [p for p in first_inputs if p.name not in (source.name, "decp-2024-demo.xml")] + [edited]
    run_from_files(second_inputs, out)
    second = pd.read_csv(out / "data/marches.csv", dtype=str, keep_default_na=False)
    return out, first, second


def test_report_opens_offline_in_chromium_with_every_chart_and_checked_download(two_runs, tmp_path):
    out, _, _ = two_runs
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary: .ci/run installs Debian's chromium; install it to run this test")
    lxml_html = pytest.importorskip("lxml.html")
    sums = dict((path, digest) for digest, path in release.read_sha256sums(out))
    url = (out / "index.html").resolve().as_uri()
    document = lxml_html.fromstring(_run_chromium(binary, tmp_path / "profil", "--dump-dom", url).stdout)

    charts = document.xpath('//figure[contains(concat(" ", normalize-space(@class), " "), " graphique ")]')
    assert len(charts) >= 5
    for figure in charts:
        drawn = figure.xpath(".//svg//*[self::path or self::rect or self::line or self::text][not(ancestor::defs)]")
        assert drawn, f"{figure.get('data-chart')} : SVG vide"
        assert figure.get("aria-label")
    links = [unquote(urlsplit(h).path) for h in document.xpath("//a/@href")
             if not urlsplit(h).scheme and not h.startswith("#")]
    downloads = [link for link in links if link.startswith("data/")]
    assert {"data/marches.csv", "data/marches.parquet", "data/achats-innovants.xlsx",
            "data/indicateurs.json"} <= set(downloads)
    for relative in links:
        target = out / relative
        assert target.is_file(), relative
        assert hashlib.sha256(target.read_bytes()).hexdigest() == sums[relative], relative
    assert not document.xpath("//script")

    screenshot = tmp_path / "rapport-publication.png"
    _run_chromium(binary, tmp_path / "capture", f"--screenshot={screenshot}", "--window-size=1200,3000",
                  "--hide-scrollbars", url)
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 20_000
    if os.environ.get("ACHATS_SCREENSHOT_DIR"):
        Path(os.environ["ACHATS_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, Path(os.environ["ACHATS_SCREENSHOT_DIR"]) / screenshot.name)


def test_package_checksums_and_catalogue_agree(two_runs):
    out, _, _ = two_runs
    assert validate(out / "datapackage.json").valid
    assert release.verify_sha256sums(out) == []
    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    expected = {r["path"] for r in package["resources"]}
    expected |= {o["path"] for r in package["resources"] for o in r["autres_formats"]}
    expected |= {f["path"] for f in package["autres_fichiers"]} | {"index.html"}

    rdflib = pytest.importorskip("rdflib")
    graph = rdflib.Graph().parse(out / "catalog.jsonld", format="json-ld")
    dcat = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    distributions = set(graph.subjects(rdflib.RDF.type, dcat.Distribution))
    urls = {str(u) for d in distributions for u in graph.objects(d, dcat.downloadURL)}
    urls |= {str(u) for d in distributions for u in graph.objects(d, dcat.accessURL)}
    named = {path for path in expected if any(u.endswith(path) for u in urls)}
    assert named == expected
    assert len(list(graph.subjects(rdflib.RDF.type, dcat.Dataset))) == 1


def test_two_runs_give_two_snapshots_and_a_changelog_of_the_differences(two_runs):
    out, first, second = two_runs
    archive = out / "archive"
    snapshots = sorted(p.name for p in archive.iterdir() if p.is_dir())
    assert len(snapshots) == 2
    older, newer = (archive / name for name in sorted(snapshots, key=release.snapshot_sort_key))
    # The first snapshot still holds the first publication, byte for byte, and cannot be written to.
    assert (older / "data/marches.csv").read_bytes() != (newer / "data/marches.csv").read_bytes()
    assert pd.read_csv(older / "data/marches.csv", dtype=str, keep_default_na=False).equals(first)
    assert not os.access(older / "data/marches.csv", os.W_OK) or os.geteuid() == 0
    assert oct((older / "data/marches.csv").stat().st_mode)[-3:] == "444"

    before, after = set(first["uid"]), set(second["uid"])
    common = sorted(before & after)
    changed = sum(1 for uid in common if not first.set_index("uid").loc[uid].equals(second.set_index("uid").loc[uid]))
    releases = json.loads((archive / "releases.json").read_text(encoding="utf-8"))
    assert [r["version"] for r in releases] == [older.name, newer.name]
    # The first release counts every row as added, from the publisher's own checked counts.
    assert releases[0]["changements"]["marches"] == {"ajoutees": len(first), "supprimees": 0, "modifiees": 0,
                                                     "inchangees": 0, "cle_primaire": ["uid"]}
    files = {f["path"]: f for f in releases[0]["fichiers"]}
    assert files["data/marches.csv"]["rows"] == len(first)
    diff = releases[-1]["changements"]["marches"]
    assert (diff["ajoutees"], diff["supprimees"], diff["modifiees"]) == (len(after - before), len(before - after),
                                                                           changed)
    changelog = (archive / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"publication {newer.name}" in changelog and f"{len(before - after)} supprimées" in changelog
    assert changed >= 1  # the edited objet


def test_workbook_opens_and_keeps_formula_like_text_as_text(two_runs):
    out, _, second = two_runs
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.load_workbook(out / "data/achats-innovants.xlsx", read_only=True)
    assert workbook.sheetnames[0] == "LISEZMOI" and {"indicateurs", "references", "marches", "avis"} <= set(
        workbook.sheetnames)
    sheet = workbook["marches"]
    header = [c.value for c in next(sheet.iter_rows(min_row=1, max_row=1))]
    column = header.index("objet")
    cells = [row[column] for row in sheet.iter_rows(min_row=2)]
    formula_cells = [c for c in cells if c.value == FORMULA]
    assert len(formula_cells) == 1 and formula_cells[0].data_type == "s"
    assert len(cells) == len(second)
