"""Bad and hostile input, end to end: what the pipeline does with each, asserted on what it publishes.

Every input is built here, at test time, from the shipped fictitious sample. Most cases share one run
(``bad_run``): a folder holding all the bad files beside a good DECP file and a good BOAMP page, published once
with ``run_from_files`` (a run costs seconds; one per case would not fit the test budget). Each test then reads the
outcome of its own file in that publication — the reject motif and detail in ``rejets.csv`` naming the file, the
published values — and checks that the good files were published all the same. Cases that need their own
conditions (an environment variable, a memory limit, a separate folder) run on their own.

Every run is bounded in time (SIGALRM deadline in process, ``timeout`` for subprocesses) and the hostile parsers
in memory (address-space limit in a subprocess).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pandas as pd
import pytest

from pipelines.settings import SAMPLE_DIR

GOOD_DECP = SAMPLE_DIR / "decp-2024-demo-2025-04.json"
_TEMPLATE_ID = "25CH0014"  # a plain contract of the sample (no modification) that the crafted records copy
JSON_BUYER = "26000001300011"
XML_BUYER = "22000003800012"
FOLDER = "entrees"  # name of the input folder: published file names start with it
LIMIT = 8 * 1024 * 1024  # max_bytes of the shared run: far above every crafted file, far below the sparse one
SECRET = "SECRET-XXE-5c1e0f9b"  # content of a file that XXE attempts point to
ACCENTS = "Réfection de l'église Saint-Étienne, façade nord, çà et là, coût maîtrisé"
FORMULAS = ("=cmd|' /C calc'!A0", "=HYPERLINK(\"http://example.invalid\",\"clic\")", "+33 1 23 45 67 89",
            "-1+2", "@SUM(A1:A2)")
DEPTH = 100_000


@contextmanager
def deadline(seconds: float):
    """Raise TimeoutError in the test if the block runs longer than ``seconds`` (main thread only)."""

    def expired(signum, frame):
        raise TimeoutError(f"plus de {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------------------------- building inputs

def _template() -> dict:
    document = json.loads(GOOD_DECP.read_text(encoding="utf-8"))
    record = next(r for r in document["marches"]["marche"] if r["id"] == _TEMPLATE_ID)
    assert record["acheteur"]["id"] == JSON_BUYER and "modifications" not in record
    return record


def marche(ident: str, objet: str = "Fourniture de gaz médicaux", montant: object = 150000) -> dict:
    """A valid DECP 2024 contract (a copy of one of the sample) with its own id, object and amount."""
    return _template() | {"id": ident, "objet": objet, "montant": montant}


def decp_json(*records: dict) -> str:
    return json.dumps({"marches": {"marche": list(records)}}, ensure_ascii=False, indent=1)


def _xml_template() -> str:
    text = (SAMPLE_DIR / "decp-2024-demo.xml").read_text(encoding="utf-8")
    record = re.search(r"<marche>.*?</marche>", text, re.DOTALL).group(0)
    assert f"<id>{XML_BUYER}</id>" in record
    return record


def marche_xml(ident: str, objet: str = "Fourniture de carburants") -> str:
    record = re.sub(r"<id>.*?</id>", f"<id>{ident}</id>", _xml_template(), count=1)
    return re.sub(r"<objet>.*?</objet>", f"<objet>{escape(objet)}</objet>", record, count=1)


def decp_xml(*records: str, declaration: str = '<?xml version="1.0" encoding="UTF-8"?>') -> str:
    return declaration + "\n<marches>\n" + "\n".join(records) + "\n</marches>\n"


def tabular_csv(*rows: tuple[str, str]) -> str:
    """decp.info tabular export (one row per contract and supplier): (id, objet) rows of one buyer."""
    header = "uid,id,acheteur_id,objet,montant,dateNotification,dureeMois,codeCPV,procedure,nature,titulaire_id," \
             "titulaire_typeIdentifiant\n"
    lines = [f'{JSON_BUYER}{i},{i},{JSON_BUYER},"{o}",90000,2025-03-03,12,33141000,Procédure adaptée,Marché,'
             "99990032700019,SIRET\n" for i, o in rows]
    return header + "".join(lines)


def ods_record(idweb: str, objet: str = "Entretien des espaces verts") -> dict:
    """One record of the BOAMP Opendatasoft API (``/records`` page)."""
    return {
        "idweb": idweb, "id": idweb.replace("-", "_"), "objet": objet, "famille": "FNS",
        "dateparution": "2024-03-15", "datelimitereponse": "2024-04-30T10:00:00+00:00",
        "nomacheteur": "Ville fictive", "nature": "APPEL_OFFRE", "etat": "INITIAL", "type_procedure": None,
        "procedure_libelle": "Procédure adaptée", "type_marche": ["SERVICES"], "source_schema": "Boamp_v240.xsd",
        "contractfolderid": None, "url_avis": f"https://www.boamp.fr/pages/avis/?q=idweb:{idweb}",
        "gestion": json.dumps({"REFERENCE": {"IDWEB": idweb}}),
        "donnees": json.dumps({"OBJET": {"TITRE_MARCHE": objet, "CPV": {"PRINCIPAL": "77310000"}}}),
    }


def ods_page(*records: object) -> str:
    return json.dumps({"total_count": len(records), "results": list(records)}, ensure_ascii=False)


def _cut(text: str, marker: str, after: int = 12) -> str:
    """``text`` cut in the middle of the record that ``marker`` starts."""
    return text[: text.index(marker) + after]


def _hide_after_comment(xml: str) -> str:
    """The same document with a 70 kB comment first, so that its DTD is past the readers' first-bytes check."""
    declaration, body = xml.split("?>", 1)
    return declaration + "?>\n<!--" + "x" * 70_000 + "-->" + body


def _billion_laughs(root: str, body: str) -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n' + "\n".join(entities) + f"\n]>\n{body}"


def _billion_laughs_decp() -> str:
    """A DECP XML file whose object expands to 10⁹ "lol" (3 GB) if entities are resolved."""
    record = marche_xml("XB-1").replace("<objet>Fourniture de carburants</objet>", "<objet>&lol9;</objet>")
    return _billion_laughs("marches", f"<marches>{record}</marches>")


EFORMS_NS = 'xmlns="urn:oasis:names:specification:ubl:schema:xsd:ContractNotice-2" ' \
            'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"'


def _deep_value() -> str:
    return "[" * DEPTH + "]" * DEPTH


# The folder of the shared run: every bad file, and a good DECP file and a good BOAMP page beside them.
def build_inputs(folder: Path, outside: Path) -> None:
    folder.mkdir()
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    evil_dtd = outside / "evil.dtd"
    evil_dtd.write_text(f'<!ENTITY xxe SYSTEM "file://{secret}">', encoding="utf-8")

    def put(name: str, content: str | bytes) -> None:
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))

    shutil.copyfile(GOOD_DECP, folder / "good.json")
    put("boamp-good.json", ods_page(ods_record("24-10001"), ods_record("24-10002", "Nettoyage des locaux")))

    # Malformed and truncated files.
    put("json-malformed.json", decp_json(marche("JM-1"), marche("JM-2"), marche("JM-3")).replace(
        '"id": "JM-2",', '"id": "JM-2",,'))
    put("json-truncated.json", _cut(decp_json(marche("JT-1"), marche("JT-2"), marche("JT-3")), '"JT-3"'))
    put("xml-malformed.xml", decp_xml(marche_xml("XM-1"), marche_xml("XM-2").replace("</objet>", "</objt>"),
                                      marche_xml("XM-3")))
    put("xml-truncated.xml", _cut(decp_xml(marche_xml("XT-1"), marche_xml("XT-2"), marche_xml("XT-3")),
                                  "<id>XT-3</id>", 40))
    page = ods_page(ods_record("24-20001"), ods_record("24-20002"), ods_record("24-20003"))
    put("boamp-truncated.json", _cut(page, '"24-20002"', 30))

    # Encodings.
    put("latin1.json", decp_json(marche("EN-LATIN1-JSON", ACCENTS)).encode("latin-1"))
    put("bom.json", b"\xef\xbb\xbf" + decp_json(marche("EN-BOM-JSON", ACCENTS)).encode("utf-8"))
    put("bom.xml", b"\xef\xbb\xbf" + decp_xml(marche_xml("EN-BOM-XML", ACCENTS)).encode("utf-8"))
    put("latin1-declared.xml", decp_xml(marche_xml("EN-LATIN1-XML", ACCENTS),
                                        declaration='<?xml version="1.0" encoding="ISO-8859-1"?>').encode("latin-1"))
    put("latin1-undeclared.xml", decp_xml(marche_xml("EN-LATIN1-NODECL", ACCENTS),
                                          declaration="<?xml version=\"1.0\"?>").encode("latin-1"))
    put("latin1.csv", tabular_csv(("EN-LATIN1-CSV", ACCENTS)).encode("cp1252"))
    put("bom.csv", b"\xef\xbb\xbf" + tabular_csv(("EN-BOM-CSV", ACCENTS)).encode("utf-8"))
    put("utf16.json", decp_json(marche("EN-UTF16", ACCENTS)).encode("utf-16"))

    # Entity expansion and external entities (the secret lies outside the input folder).
    put("billion-laughs.xml", _billion_laughs_decp())
    put("billion-laughs-hidden.xml", _hide_after_comment(_billion_laughs_decp()))
    xxe_record = marche_xml("XX-1").replace("<objet>Fourniture de carburants</objet>", "<objet>&xxe;</objet>")
    xxe = (f'<?xml version="1.0"?>\n<!DOCTYPE marches [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
           f"<marches>{xxe_record}</marches>")
    put("xxe.xml", xxe)
    put("xxe-hidden.xml", _hide_after_comment(xxe))
    put("xxe-external-dtd.xml", _hide_after_comment(
        f'<?xml version="1.0"?>\n<!DOCTYPE marches SYSTEM "file://{evil_dtd}">\n<marches>{xxe_record}</marches>'))
    put("ted-xxe.xml", f'<?xml version="1.0"?>\n<!DOCTYPE ContractNotice [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
                       f"<ContractNotice {EFORMS_NS}><cbc:ID>&xxe;</cbc:ID></ContractNotice>")
    put("boamp-dila-xxe.xml", f'<?xml version="1.0"?>\n<!DOCTYPE ANNONCE [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
                              "<ANNONCE><GESTION><REFERENCE><IDWEB>24-99</IDWEB></REFERENCE></GESTION>"
                              "<DONNEES><OBJET><TITRE_MARCHE>&xxe;</TITRE_MARCHE></OBJET></DONNEES></ANNONCE>")

    # Nesting far past any DECP or BOAMP record.
    deep = decp_json(marche("DP-1"), {"id": "DP-2", "profond": "@"}, marche("DP-3"))
    put("deep.json", deep.replace('"@"', _deep_value()))
    deep_page = ods_page(ods_record("24-30001"), {"idweb": "24-30002", "donnees": "@"}, ods_record("24-30003"))
    put("boamp-deep.json", deep_page.replace('"@"', _deep_value()))

    # Amounts: numbers as text, NaN and Infinity (not JSON, as Python's json.dumps writes them).
    amounts = decp_json(marche("MT-TEXTE", montant="12 345,60"), marche("MT-EXPOSANT", montant="1.5e3"),
                        marche("MT-NAN", montant="@NaN"), marche("MT-INF", montant="@Infinity"),
                        marche("MT-OK", montant=98765.4))
    put("amounts.json", amounts.replace('"@NaN"', "NaN").replace('"@Infinity"', "Infinity"))

    # Duplicate identifiers: same uid and other object (a collision), and exact copies (one contract).
    put("dup.json", decp_json(marche("DU-1", "Maintenance des ascenseurs"), marche("DU-2"),
                              marche("DU-1", "Location de véhicules utilitaires"), marche("DU-2")))
    put("dup-copy.json", decp_json(marche("DU-2")))

    # Spreadsheet formulas in text.
    put("formulas.json", decp_json(*(marche(f"FX-{i}", objet) for i, objet in enumerate(FORMULAS))))

    # A file far larger than the limit, sparse so that it costs nothing.
    with open(folder / "huge.json", "wb") as handle:
        handle.truncate(3 * 1024**3)

    # Names and links that try to leave the folder.
    put("..%2f..%2fx.json", decp_json(marche("PT-HIDDEN")))
    put("a%2f..%2f..%2fy.json", decp_json(marche("PT-ENCODED")))
    (outside / "dehors.json").write_text(decp_json(marche("PT-LINKED-FILE")), encoding="utf-8")
    os.symlink(outside / "dehors.json", folder / "lien.json")
    (outside / "sous-dossier").mkdir()
    (outside / "sous-dossier" / "autre.json").write_text(decp_json(marche("PT-LINKED-DIR")), encoding="utf-8")
    os.symlink(outside / "sous-dossier", folder / "lien-dossier")
    with zipfile.ZipFile(folder / "archive.zip", "w") as archive:
        archive.writestr("../../zip-slip.json", decp_json(marche("PT-ZIP")))


# ------------------------------------------------------------------------------------------- the shared run

@dataclass
class Outcome:
    root: Path
    out: Path
    marches: pd.DataFrame
    avis: pd.DataFrame
    rejets: pd.DataFrame
    entrees: list[dict]

    def rejets_of(self, name: str) -> pd.DataFrame:
        return self.rejets[self.rejets["fichier"] == f"{FOLDER}/{name}"]

    def only_reject(self, name: str) -> dict:
        rows = self.rejets_of(name)
        assert len(rows) == 1, rows.to_dict("records")
        return rows.iloc[0].to_dict()

    def entree(self, name: str) -> dict:
        found = [e for e in self.entrees if e["fichier"] == f"{FOLDER}/{name}"]
        assert len(found) == 1, self.entrees
        return found[0]

    def ids_from(self, name: str) -> list[str]:
        return sorted(self.marches.loc[self.marches["source_fichier"] == name, "id"])

    def marche(self, ident: str) -> dict:
        rows = self.marches[self.marches["id"] == ident]
        assert len(rows) == 1, f"{ident} : {len(rows)} lignes publiées"
        return rows.iloc[0].to_dict()

    def assert_good_files_published(self) -> None:
        expected = sorted(r["id"] for r in json.loads(GOOD_DECP.read_text(encoding="utf-8"))["marches"]["marche"])
        assert self.ids_from("good.json") == expected
        assert {"boamp:24-10001", "boamp:24-10002"} <= set(self.avis["id_avis"])


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory) -> Outcome:
    from pipelines.pipeline import run_from_files

    root = tmp_path_factory.mktemp("mauvaises-entrees")
    build_inputs(root / FOLDER, root / "dehors")
    out = root / "publication"
    with deadline(120):
        run_from_files([root / FOLDER], out, max_bytes=LIMIT)
    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    return Outcome(root, out, _read(out / "data/marches.csv"), _read(out / "data/avis.csv"),
                   _read(out / "data/rejets.csv"), package["entrees"])


def _published_bytes(out: Path) -> dict[str, bytes]:
    """Every published file's content, workbook members and Parquet tables included (decoded)."""
    contents = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        relative = str(path.relative_to(out))
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as workbook:
                for member in workbook.namelist():
                    contents[f"{relative}!{member}"] = workbook.read(member)
        elif path.suffix == ".parquet":
            contents[relative] = pd.read_parquet(path).to_csv().encode("utf-8")
        else:
            contents[relative] = path.read_bytes()
    return contents


# ------------------------------------------------------------------------------------------- malformed, truncated

def test_malformed_json_keeps_records_before_the_error_and_names_the_file(bad_run):
    reject = bad_run.only_reject("json-malformed.json")
    assert reject["motif"] == "json_invalide"
    assert reject["detail"].startswith("JSON invalide après 1 enregistrements :")
    # What comes before the syntax error is published; the broken record and everything after it is not.
    assert bad_run.ids_from("json-malformed.json") == ["JM-1"]
    entry = bad_run.entree("json-malformed.json")
    assert (entry["format_source"], entry["lus"], entry["marches"], entry["rejetes"]) == ("decp-2024-json", 1, 1, 0)
    assert bad_run.entree("json-malformed.json")["erreur"] == reject["detail"]
    bad_run.assert_good_files_published()


def test_truncated_json_keeps_the_complete_records_before_the_cut(bad_run):
    reject = bad_run.only_reject("json-truncated.json")
    assert reject["motif"] == "json_invalide"
    assert reject["detail"].startswith("JSON invalide après 2 enregistrements :")
    assert bad_run.ids_from("json-truncated.json") == ["JT-1", "JT-2"]  # JT-3, cut in the middle, is lost
    bad_run.assert_good_files_published()


def test_malformed_xml_keeps_records_before_the_error(bad_run):
    reject = bad_run.only_reject("xml-malformed.xml")
    assert reject["motif"] == "xml_invalide"
    assert reject["detail"].startswith("XML invalide après 1 enregistrements :")
    assert "objt" in reject["detail"]  # libxml2 names the mismatched tag
    assert bad_run.ids_from("xml-malformed.xml") == ["XM-1"]
    bad_run.assert_good_files_published()


def test_truncated_xml_keeps_the_complete_records_before_the_cut(bad_run):
    reject = bad_run.only_reject("xml-truncated.xml")
    assert reject["motif"] == "xml_invalide"
    assert reject["detail"].startswith("XML invalide après 2 enregistrements :")
    assert bad_run.ids_from("xml-truncated.xml") == ["XT-1", "XT-2"]
    bad_run.assert_good_files_published()


def test_truncated_boamp_page_keeps_the_notices_before_the_cut(bad_run):
    reject = bad_run.only_reject("boamp-truncated.json")
    assert (reject["source"], reject["motif"]) == ("boamp", "json_invalide")
    # One line (yajl's quote of the input and caret line are left out), counting only the complete notices.
    assert reject["detail"] == "JSON invalide après 1 avis : parse error: premature EOF"
    assert sorted(bad_run.avis.loc[bad_run.avis["source_fichier"] == "boamp-truncated.json", "id_avis"]) == [
        "boamp:24-20001"]
    bad_run.assert_good_files_published()


# ------------------------------------------------------------------------------------------- encodings

@pytest.mark.parametrize("name, ident", [
    ("latin1.json", "EN-LATIN1-JSON"),          # not UTF-8: read again as Windows-1252
    ("bom.json", "EN-BOM-JSON"),
    ("bom.xml", "EN-BOM-XML"),
    ("latin1-declared.xml", "EN-LATIN1-XML"),   # <?xml encoding="ISO-8859-1"?>
    ("latin1.csv", "EN-LATIN1-CSV"),
    ("bom.csv", "EN-BOM-CSV"),
])
def test_latin1_and_bom_files_are_read_with_their_accents(bad_run, name, ident):
    assert bad_run.rejets_of(name).empty
    assert bad_run.marche(ident)["objet"] == ACCENTS
    assert bad_run.marche(ident)["source_fichier"] == name
    bad_run.assert_good_files_published()


def test_latin1_xml_without_declaration_is_rejected_with_the_encoding_as_reason(bad_run):
    reject = bad_run.only_reject("latin1-undeclared.xml")
    assert reject["motif"] == "xml_invalide"
    assert reject["detail"].startswith("XML invalide après 0 enregistrements :")
    assert reject["detail"].endswith(" — octets non UTF-8 : fichier sans doute en Latin-1/Windows-1252 sans "
                                     'déclaration <?xml version="1.0" encoding="ISO-8859-1"?> ; le déclarer ou le '
                                     "convertir en UTF-8")
    assert "EN-LATIN1-NODECL" not in set(bad_run.marches["id"])  # never published with mangled accents
    bad_run.assert_good_files_published()


def test_utf16_file_is_rejected_as_utf16_not_as_binary(bad_run):
    reject = bad_run.only_reject("utf16.json")
    assert reject["motif"] == "format_non_reconnu"
    assert reject["detail"] == "fichier encodé en UTF-16 : encodage non pris en charge, à convertir en UTF-8"
    bad_run.assert_good_files_published()


# ------------------------------------------------------------------------------------------- XML attacks

@pytest.mark.parametrize("name, source", [
    ("billion-laughs.xml", "decp"),
    ("billion-laughs-hidden.xml", "decp"),   # DTD past the first 64 kB: caught in the parsed document
    ("xxe.xml", "decp"),
    ("xxe-hidden.xml", "decp"),
    ("xxe-external-dtd.xml", "decp"),        # external DTD defining the entity, never loaded
    ("ted-xxe.xml", "ted"),
    ("boamp-dila-xxe.xml", "boamp"),
])
def test_entity_expansion_and_external_entities_are_refused(bad_run, name, source):
    reject = bad_run.only_reject(name)
    assert (reject["source"], reject["motif"]) == (source, "xml_invalide")
    assert "refusé par sécurité" in reject["detail"] and "DTD" in reject["detail"]
    assert bad_run.ids_from(name) == []
    bad_run.assert_good_files_published()


def test_the_secret_an_xxe_points_to_appears_in_no_published_file(bad_run):
    contents = _published_bytes(bad_run.out)
    assert len(contents) > 20  # the workbook's members and the Parquet tables were opened
    leaked = [name for name, data in contents.items() if SECRET.encode() in data]
    assert leaked == []
    # Nor did the expansion produce anything: no "lol" string anywhere.
    assert not [name for name, data in contents.items() if b"lollollol" in data]


# ------------------------------------------------------------------------------------------- nesting

def test_deeply_nested_record_is_rejected_alone(bad_run):
    reject = bad_run.only_reject("deep.json")
    assert (reject["motif"], reject["position"]) == ("enregistrement_invalide", "1")
    assert reject["detail"] == "enregistrement imbriqué sur plus de 64 niveaux"
    assert bad_run.ids_from("deep.json") == ["DP-1", "DP-3"]  # the records after it are read too
    bad_run.assert_good_files_published()


def test_deeply_nested_boamp_notice_is_rejected_alone(bad_run):
    reject = bad_run.only_reject("boamp-deep.json")
    assert (reject["source"], reject["motif"], reject["position"]) == ("boamp", "enregistrement_invalide", "1")
    assert "imbriqué sur plus de 64 niveaux" in reject["detail"]
    assert sorted(bad_run.avis.loc[bad_run.avis["source_fichier"] == "boamp-deep.json", "id_avis"]) == [
        "boamp:24-30001", "boamp:24-30003"]


_HOSTILE_READER = """
import json, resource, sys
from pathlib import Path
from pipelines.decp.readers import FileRejected, UnreadableRecord, read_records
from pipelines.notices.read import read_notices
outcome = {}
for name in sys.argv[1:]:
    path = Path(name)
    reader = read_notices if path.name.startswith("boamp") else read_records
    seen = []
    try:
        for item in reader(path, 1 << 30):
            if hasattr(item, "rejet"):
                seen.append(item.rejet.detail if item.rejet else "ok")
            else:
                seen.append(item.data.detail if isinstance(item.data, UnreadableRecord) else "ok")
        outcome[path.name] = seen
    except FileRejected as exc:
        outcome[path.name] = seen + [exc.motif]
outcome["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(outcome))
"""


def test_hostile_files_are_parsed_in_bounded_time_and_memory(tmp_path):
    """100 000 nested arrays (with and without the NaN that sends JSON to the stdlib fallback) and a billion
    laughs, read in a subprocess capped at 1 GiB of address space and 60 s."""
    deep = decp_json(marche("DP-1"), {"id": "DP-2", "profond": "@"}, marche("DP-3")).replace('"@"', _deep_value())
    (tmp_path / "deep.json").write_text(deep, encoding="utf-8")
    (tmp_path / "deep-nan.json").write_text(deep.replace('"montant": 150000', '"montant": NaN', 1), encoding="utf-8")
    (tmp_path / "deep-top.json").write_text(_deep_value(), encoding="utf-8")
    (tmp_path / "boamp-deep.json").write_text(ods_page(ods_record("24-1"), {"idweb": "24-2", "x": "@"}).replace(
        '"@"', _deep_value()), encoding="utf-8")
    (tmp_path / "laughs.xml").write_text(_hide_after_comment(_billion_laughs_decp()), encoding="utf-8")
    names = ["deep.json", "deep-nan.json", "deep-top.json", "boamp-deep.json", "laughs.xml"]

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    result = subprocess.run([sys.executable, "-c", _HOSTILE_READER, *(str(tmp_path / n) for n in names)],
                            capture_output=True, text=True, timeout=60, preexec_fn=limit,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout)
    nested = "enregistrement imbriqué sur plus de 64 niveaux"
    assert outcome["deep.json"] == ["ok", nested, "ok"]
    # NaN sends the file to the standard library parser, which gives up (RecursionError caught) after DP-1.
    assert outcome["deep-nan.json"] == ["json_invalide"]
    assert outcome["deep-top.json"] == [nested]
    assert outcome["boamp-deep.json"][0] == "ok" and "imbriqué" in outcome["boamp-deep.json"][1]
    assert outcome["laughs.xml"] == ["xml_invalide"]
    assert outcome["maxrss_kb"] < 400 * 1024


# ------------------------------------------------------------------------------------------- size limit

def test_file_over_the_limit_is_rejected_in_the_run(bad_run):
    reject = bad_run.only_reject("huge.json")
    assert reject["motif"] == "fichier_trop_volumineux"
    assert reject["detail"] == (f"{3 * 1024**3} octets, au-delà de la limite configurée ({LIMIT} octets, "
                                "ACHATS_MAX_FILE_BYTES)")
    bad_run.assert_good_files_published()


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("rchar absent de /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io to count bytes read")
def test_file_over_the_limit_is_not_read(tmp_path, monkeypatch):
    """ACHATS_MAX_FILE_BYTES from the environment; the 3 GiB sparse file costs at most the 64 kB format sniff."""
    from pipelines.pipeline import ingest

    huge = tmp_path / "enorme.json"
    with open(huge, "wb") as handle:
        handle.seek(3 * 1024**3 - 2)
        handle.write(b"]}")
    monkeypatch.setenv("ACHATS_MAX_FILE_BYTES", "1000000")
    ingest([GOOD_DECP])  # whatever the first run loads lazily is not counted below
    before = _bytes_read()
    with deadline(10):
        ingested = ingest([huge])
    assert _bytes_read() - before < 256 * 1024
    assert [(r["fichier"], r["motif"]) for r in ingested.rejets] == [("enorme.json", "fichier_trop_volumineux")]
    assert "au-delà de la limite configurée (1000000 octets" in ingested.rejets[0]["detail"]
    ingested = ingest([huge, GOOD_DECP])  # the good file beside it is read
    assert len(ingested.marches) == 12 and len(ingested.rejets) == 1


# ------------------------------------------------------------------------------------------- amounts

def test_amounts_as_text_nan_and_infinity(bad_run):
    assert bad_run.rejets_of("amounts.json").empty  # a bad amount never costs the record
    text = bad_run.marche("MT-TEXTE")
    assert (text["montant"], text["montant_initial"]) == ("12345.6", "12345.6")
    assert "montant_texte" in text["anomalies"].split("|")
    assert bad_run.marche("MT-EXPOSANT")["montant"] == "1500"
    # NaN (pandas' missing value) is published as a missing amount; Infinity as a missing, flagged amount.
    assert bad_run.marche("MT-NAN")["montant"] == "" and bad_run.marche("MT-NAN")["montant_initial"] == ""
    infinite = bad_run.marche("MT-INF")
    assert infinite["montant"] == "" and "montant_aberrant" in infinite["anomalies"].split("|")
    assert bad_run.marche("MT-OK")["montant"] == "98765.4"
    bad_run.assert_good_files_published()


# ------------------------------------------------------------------------------------------- duplicates

def test_same_uid_with_another_object_is_a_collision_and_exact_copies_merge(bad_run):
    collision = bad_run.only_reject("dup.json")
    assert (collision["motif"], collision["identifiant"], collision["position"]) == (
        "uid_en_collision", f"{JSON_BUYER}DU-1", "0")
    assert "« Maintenance des ascenseurs »" in collision["detail"]
    assert "conservé : « Location de véhicules utilitaires »" in collision["detail"]
    assert bad_run.marche("DU-1")["objet"] == "Location de véhicules utilitaires"  # the later version wins
    copies = bad_run.marche("DU-2")  # twice in dup.json, once in dup-copy.json: one contract
    assert copies["nb_versions_fusionnees"] == "3"
    assert bad_run.rejets_of("dup-copy.json").empty
    assert bad_run.marches["uid"].is_unique
    bad_run.assert_good_files_published()


# ------------------------------------------------------------------------------------------- names and links

def test_names_and_links_that_try_to_leave_the_folder(bad_run):
    published = set(bad_run.marches["id"])
    assert "PT-HIDDEN" not in published  # "..%2f..%2fx.json" starts with a dot: a hidden file, skipped
    assert f"{FOLDER}/..%2f..%2fx.json" not in {e["fichier"] for e in bad_run.entrees}
    # "%2f" is not a separator: the file is read under its own literal name.
    assert bad_run.marche("PT-ENCODED")["source_fichier"] == "a%2f..%2f..%2fy.json"
    # A link to a file elsewhere is read under the link's name; links to folders are not followed.
    assert bad_run.marche("PT-LINKED-FILE")["source_fichier"] == "lien.json"
    assert "PT-LINKED-DIR" not in published
    # An archive is not unpacked: its "../../" member is never written anywhere.
    zipped = bad_run.only_reject("archive.zip")
    assert (zipped["motif"], zipped["detail"]) == (
        "format_non_reconnu", "fichier binaire, pas un fichier DECP JSON, XML ou CSV")
    assert not list(bad_run.root.parent.rglob("zip-slip.json"))
    bad_run.assert_good_files_published()


def test_published_file_names_are_relative_and_never_climb(bad_run):
    names = (list(bad_run.rejets["fichier"]) + [e["fichier"] for e in bad_run.entrees]
             + list(bad_run.marches["source_fichier"]) + list(bad_run.avis["source_fichier"]))
    assert names and all(n and not n.startswith("/") and "../" not in n and "..\\" not in n for n in names)
    assert all(e["fichier"].startswith(f"{FOLDER}/") for e in bad_run.entrees)
    # No published file holds an absolute path of the operator (the run's temporary folder).
    operator = str(bad_run.root.parent).encode()
    assert [name for name, data in _published_bytes(bad_run.out).items() if operator in data] == []


def test_every_input_is_listed_once_with_what_became_of_it(bad_run):
    listed = [e["fichier"] for e in bad_run.entrees]
    assert len(listed) == len(set(listed))
    on_disk = {f"{FOLDER}/{p.name}" for p in (bad_run.root / FOLDER).iterdir()
               if not p.name.startswith(".") and not p.is_dir()}
    assert set(listed) == on_disk
    # A file given up on (whole or after some records) carries the reason of its rejet in the manifest.
    whole = bad_run.rejets[(bad_run.rejets["position"] == "") & (bad_run.rejets["source"] != "")]
    assert len(whole) >= 15
    for reject in whole.to_dict("records"):
        assert bad_run.entree(reject["fichier"].split("/", 1)[1])["erreur"] == reject["detail"]
    # Every reason is one line of a readable length.
    assert all("\n" not in d and 0 < len(d) <= 500 for d in bad_run.rejets["detail"])


def test_folder_given_with_dotdot_is_published_under_its_real_name(tmp_path):
    from pipelines.decp.ingest import expand_inputs

    (tmp_path / "donnees" / "sous").mkdir(parents=True)
    shutil.copyfile(GOOD_DECP, tmp_path / "donnees" / "good.json")
    names = [f.name for f in expand_inputs([tmp_path / "donnees" / "sous" / ".."])]
    assert names == ["donnees/good.json"]


def test_symlink_loop_in_an_input_folder_is_rejected_alone(tmp_path):
    from pipelines.pipeline import ingest

    folder = tmp_path / "entrees"
    folder.mkdir()
    shutil.copyfile(GOOD_DECP, folder / "good.json")
    os.symlink("boucle.json", folder / "boucle.json")
    with deadline(10):
        ingested = ingest([folder], 1 << 20)
    assert len(ingested.marches) == 12
    assert [(r["fichier"], r["motif"]) for r in ingested.rejets] == [("entrees/boucle.json", "fichier_illisible")]


def test_raw_manifest_line_that_leaves_its_partition_is_not_read(tmp_path):
    from pipelines.raw_inputs import raw_files

    partition = tmp_path / "raw" / "decp" / "2025-03"
    partition.mkdir(parents=True)
    shutil.copyfile(GOOD_DECP, partition / "page-1.json")
    (tmp_path / "secret.json").write_text(decp_json(marche("PT-MANIFEST")), encoding="utf-8")
    entry = {"url": "https://example.invalid/", "method": "GET", "request_body": None,
             "fetched_at": "2025-04-01T00:00:00Z", "http_status": 200, "sha256": "0" * 64, "bytes": 1}
    lines = [entry | {"file": "page-1.json"}, entry | {"file": "../../../secret.json"}]
    (partition / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert raw_files(tmp_path / "raw", "decp") == [partition / "page-1.json"]


# ------------------------------------------------------------------------------------------- spreadsheet formulas

def test_formula_like_text_stays_text_in_the_workbook(bad_run):
    workbook = openpyxl.load_workbook(bad_run.out / "data/achats-innovants.xlsx")
    sheet = workbook["marches"]
    header = [cell.value for cell in sheet[1]]
    objet_col, id_col = header.index("objet"), header.index("id")
    cells = {row[id_col].value: row[objet_col] for row in sheet.iter_rows(min_row=2)}
    for i, formula in enumerate(FORMULAS):
        cell = cells[f"FX-{i}"]
        assert (cell.value, cell.data_type) == (formula, "s")
    # Nowhere in the workbook is there a formula.
    formulas = [(ws.title, c.coordinate) for ws in workbook for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
    assert bad_run.marche("FX-0")["objet"] == FORMULAS[0]  # CSV: the text as published by the buyer
    bad_run.assert_good_files_published()
