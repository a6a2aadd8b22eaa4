"""Faults during a run: SIGKILL at several points, a second run on the same inputs, a full disk, an unwritable
output. The publication must always be either the previous one or the new one whole, and a run that cannot
finish must say so in one line and leave the previous publication byte for byte.

Runs go through the console script in a subprocess (as an operator or a scheduler runs it), on an input built in
tmp_path from the shipped sample: its 2024 contracts repeated under new ids, its XML file, and a BOAMP page, so
that a run takes a few seconds and every table (marches, avis, indicateurs…) has rows. Every subprocess has a
timeout; the whole file takes about a minute on an idle two-core machine.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from frictionless import validate

from pipelines.settings import SAMPLE_DIR

REPO = Path(__file__).resolve().parents[1]
COPIES = 12  # times the sample's 2024 contracts are repeated: ~600 contracts, a run of a few seconds
NOTICES = 150
RUN_TIMEOUT = 180


# ------------------------------------------------------------------------------------------- inputs and runs

def _ods_record(i: int) -> dict:
    idweb = f"24-{40000 + i}"
    objet = ("Partenariat d'innovation pour un capteur de qualité de l'air" if i % 7 == 0
             else f"Entretien des espaces verts, secteur {i}")
    return {
        "idweb": idweb, "id": idweb.replace("-", "_"), "objet": objet, "famille": "FNS",
        "dateparution": f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}", "datelimitereponse": "2024-12-30T10:00:00+00:00",
        "nomacheteur": f"Commune fictive {i % 9}", "nature": "APPEL_OFFRE", "etat": "INITIAL",
        "type_procedure": None, "procedure_libelle": "Procédure adaptée", "type_marche": ["SERVICES"],
        "source_schema": "Boamp_v240.xsd", "contractfolderid": None,
        "url_avis": f"https://www.boamp.fr/pages/avis/?q=idweb:{idweb}",
        "gestion": json.dumps({"REFERENCE": {"IDWEB": idweb}}),
        "donnees": json.dumps({"OBJET": {"TITRE_MARCHE": objet, "CPV": {"PRINCIPAL": "77310000"}}}),
    }


def build_big_input(folder: Path) -> Path:
    folder.mkdir(parents=True)
    sample = json.loads((SAMPLE_DIR / "decp-2024-demo-2025-03.json").read_text(encoding="utf-8"))
    big: dict = {"marches": {"marche": [], "contrat-concession": []}}
    for kind, records in big["marches"].items():
        for copy_number in range(COPIES):
            for record in sample["marches"].get(kind) or []:
                record = copy.deepcopy(record)
                if copy_number:
                    record["id"] = f"{record['id']}-C{copy_number}"
                records.append(record)
    (folder / "decp-gros.json").write_text(json.dumps(big, ensure_ascii=False), encoding="utf-8")
    shutil.copyfile(SAMPLE_DIR / "decp-2024-demo.xml", folder / "decp-2024-demo.xml")
    page = {"total_count": NOTICES, "results": [_ods_record(i) for i in range(NOTICES)]}
    (folder / "boamp.json").write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")
    return folder


def cli(*args, seed: str = "0", preexec_fn=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    env.pop("ACHATS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=RUN_TIMEOUT, preexec_fn=preexec_fn)


def run_ok(inputs: Path, out: Path, seed: str = "0") -> None:
    result = cli("run", "--from-files", inputs, "--out", out, seed=seed)
    assert result.returncode == 0, result.stderr[-3000:]


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path (links and modes aside)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def data_files(out: Path, suffixes=(".csv", ".parquet")) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").iterdir()) if p.suffix in suffixes}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    return build_big_input(tmp_path_factory.mktemp("entrees") / "entrees")


def _start(inputs: Path, out: Path, seed: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    env.pop("ACHATS_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--from-files", str(inputs), "--out",
                             str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def runs(big_input, tmp_path_factory) -> dict[str, Path]:
    """Two uninterrupted runs of the big input with different hash seeds (in parallel: they are independent),
    and, meanwhile in this process, a complete publication of other inputs standing for last month's."""
    from pipelines.pipeline import run_from_files

    root = tmp_path_factory.mktemp("references")
    outs = {"reference": root / "pub-1", "seconde": root / "pub-2", "precedente": root / "precedente" / "pub"}
    processes = [_start(big_input, outs["reference"], "1"), _start(big_input, outs["seconde"], "2")]
    try:
        run_from_files([SAMPLE_DIR / "decp-2024-demo-2025-04.json"], outs["precedente"])
        for process in processes:
            _, stderr = process.communicate(timeout=RUN_TIMEOUT)
            assert process.returncode == 0, stderr[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return outs


@pytest.fixture(scope="module")
def reference(runs) -> Path:
    """An uninterrupted run of the big input."""
    return runs["reference"]


@pytest.fixture(scope="module")
def previous(runs) -> Path:
    return runs["precedente"]


def install_previous(previous: Path, out: Path) -> dict[str, str]:
    shutil.copytree(previous, out, symlinks=True)
    return tree_digest(out)


# ------------------------------------------------------------------------------------------- (b) determinism

def test_same_inputs_twice_give_identical_tables(runs):
    """A second run with another hash seed (set and dict orders differ) gives the same bytes for every table."""
    first, second = data_files(runs["reference"]), data_files(runs["seconde"])
    assert sorted(first) == sorted(second)
    assert {"marches.csv", "avis.csv", "indicateurs.csv", "rejets.csv", "marches.parquet"} <= set(first)
    assert [name for name in first if first[name] != second[name]] == []
    # The big input really fills the tables compared.
    assert first["marches.csv"].count(b"\n") > 500 and first["avis.csv"].count(b"\n") > 100


# ------------------------------------------------------------------------------------------- (a) SIGKILL

class Watcher(threading.Thread):
    """Looks at the publication folder every few milliseconds during the runs; records anything half-written.

    The folder is opened once per look and read through that descriptor, so that a swap during the look is told
    apart from a half-written folder (the descriptor then points to the folder set aside, no longer ``out``)."""

    def __init__(self, out: Path):
        super().__init__(daemon=True)
        self.out = out
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.looks = 0
        self.states: set[str] = set()

    def run(self) -> None:
        while not self.stop.is_set():
            self.look()
            time.sleep(0.003)

    def look(self) -> None:
        try:
            fd = os.open(self.out, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            self.states.add("absent")
            return
        try:
            try:
                problem = self._check(fd)
            except Exception as exc:  # noqa: BLE001 - whatever breaks the look is a finding, not a crash
                problem = f"{type(exc).__name__} : {exc}"
            if problem and self._still_live(fd):
                self.problems.append(problem)
            elif not problem:
                self.states.add("complet")
            self.looks += 1
        finally:
            os.close(fd)

    def _still_live(self, fd: int) -> bool:
        try:
            live = os.stat(self.out)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (live.st_ino, live.st_dev) == (mine.st_ino, mine.st_dev) and mine.st_nlink > 0

    @staticmethod
    def _check(fd: int) -> str | None:
        try:
            handle = os.open("datapackage.json", os.O_RDONLY, dir_fd=fd)
        except FileNotFoundError:
            return "dossier de publication sans datapackage.json"
        with os.fdopen(handle, "rb") as stream:
            raw = stream.read()
        try:
            package = json.loads(raw)
        except ValueError:
            return "datapackage.json incomplet"
        for resource_ in package["resources"]:
            for item in [resource_, *resource_.get("autres_formats", [])]:
                try:
                    size = os.stat(item["path"], dir_fd=fd).st_size
                except FileNotFoundError:
                    return f"{item['path']} absent"
                if size != item["bytes"]:
                    return f"{item['path']} : {size} octets au lieu de {item['bytes']}"
        for name in ("index.html", "SHA256SUMS", "data/achats-innovants.xlsx"):
            try:
                os.stat(name, dir_fd=fd)
            except FileNotFoundError:
                return f"{name} absent"
        return None


def test_the_watcher_sees_a_half_written_publication(previous, tmp_path):
    """The oracle of the SIGKILL test: a complete folder passes, a table cut short or missing does not."""
    out = tmp_path / "pub"
    install_previous(previous, out)
    watcher = Watcher(out)
    watcher.look()
    assert watcher.problems == [] and watcher.states == {"complet"}
    marches = out / "data/marches.csv"
    complete = marches.read_bytes()
    marches.chmod(0o644)
    marches.write_bytes(complete[:100])
    watcher.look()
    assert watcher.problems == [f"data/marches.csv : 100 octets au lieu de {len(complete)}"]
    marches.write_bytes(complete)
    (out / "data/avis.parquet").unlink()
    watcher.look()
    assert watcher.problems[1:] == ["data/avis.parquet absent"]
    (out / "datapackage.json").unlink()
    watcher.look()
    assert watcher.problems[2:] == ["dossier de publication sans datapackage.json"]


def _stagings(out: Path) -> set[str]:
    return {p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.en-cours-")}


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _snapshots(out: Path) -> set[str]:
    archive = out / "archive"
    try:
        return {p.name for p in archive.iterdir() if p.is_dir() and not p.name.startswith(".")}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _all_snapshots(out: Path) -> set[str]:
    """Snapshots in the publication and in a previous one a killed run left aside (the next run carries them)."""
    found = _snapshots(out)
    for aside in out.parent.glob(f".{out.name}.ancienne-*"):
        found |= _snapshots(aside)
    return found


# Kill points: (label, trigger factory called just before the run, delay after the trigger holds).
def _after_seconds(seconds):
    return lambda out: (lambda t: t >= seconds)


def _staging_appears(out):
    stale = _stagings(out)  # left by an earlier killed run, until this run's publish step cleans them
    return lambda t: bool(_stagings(out) - stale)


def _swapped(out):
    before = _inode(out)
    return lambda t: _inode(out) not in (None, before)


def _new_snapshot(out):
    known = _all_snapshots(out)
    return lambda t: bool(_snapshots(out) - known)


KILLS = [
    ("à 1 s (lecture des entrées)", _after_seconds(1.0), 0.0),
    ("dès que le dossier de travail apparaît", _staging_appears, 0.0),
    ("1,2 s après (tables écrites, validation, rapport)", _staging_appears, 1.2),
    # Right after the swap, before or while the archive of the previous publication is carried over.
    ("dès la bascule", _swapped, 0.0),
    ("pendant l'archivage daté (snapshot posé, journal des versions pas encore écrit)", _new_snapshot, 0.0),
]


def kill_when(inputs: Path, out: Path, trigger, after: float = 0.0) -> str:
    """Start a run and SIGKILL it ``after`` seconds past the moment ``trigger()`` first holds; returns what
    happened ("tué à … s" or "terminé" when the run ended before the trigger)."""
    env = dict(os.environ, PYTHONHASHSEED="3")
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--from-files", str(inputs),
                                "--out", str(out)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    start = time.monotonic()
    fired = None
    try:
        while process.poll() is None:
            now = time.monotonic()
            if fired is None and trigger(now - start):
                fired = now
            if fired is not None and now - fired >= after:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                return f"tué à {now - start:.2f} s"
            if now - start > RUN_TIMEOUT:
                raise AssertionError("exécution trop longue")
            time.sleep(0.002)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    return "terminé"


def test_runs_killed_at_any_point_then_rerun_give_the_uninterrupted_bytes(big_input, reference, previous,
                                                                          tmp_path):
    out = tmp_path / "pub"
    before = install_previous(previous, out)
    previous_marches = (previous / "data/marches.csv").read_bytes()
    reference_marches = (reference / "data/marches.csv").read_bytes()
    initial_snapshots = _snapshots(out)
    watcher = Watcher(out)
    watcher.start()
    outcomes = []
    try:
        for label, make_trigger, after in KILLS:
            outcomes.append((label, kill_when(big_input, out, make_trigger(out), after)))
            # Between runs (the process dead): the previous publication or the new one, whole and valid; or,
            # killed between the two renames, no folder and the previous one set aside for the next run.
            if out.exists():
                assert (out / "data/marches.csv").read_bytes() in (previous_marches, reference_marches), label
                assert validate(out / "datapackage.json").valid, label
            else:
                aside = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.ancienne-")]
                assert aside and (aside[-1] / "data/marches.csv").read_bytes() == previous_marches, label
        # The first kills are before the swap: the previous publication was still there, untouched.
        assert outcomes[0][1].startswith("tué") and outcomes[1][1].startswith("tué")
        print("\n".join(f"{label} : {what}" for label, what in outcomes))  # shown with pytest -s
        run_ok(big_input, out)
    finally:
        watcher.stop.set()
        watcher.join(timeout=5)
    assert watcher.problems == [], watcher.problems
    assert watcher.looks > 100 and "complet" in watcher.states
    assert sum(o.startswith("tué") for _, o in outcomes) >= 4, outcomes
    # The rerun publishes exactly what an uninterrupted run publishes, and cleans up after the killed runs.
    assert data_files(out) == data_files(reference)
    for name in ("marches.csv", "avis.csv", "indicateurs.csv"):
        assert (out / "data" / name).read_bytes() == (reference / "data" / name).read_bytes(), name
    assert validate(out / "datapackage.json").valid
    assert leftovers(out) == []
    assert tree_digest(out) != before
    # The dated archive survived every kill: the previous snapshot is still there, the last one is this run's.
    releases = json.loads((out / "archive/releases.json").read_text(encoding="utf-8"))
    assert initial_snapshots <= _snapshots(out)
    assert (out / "archive" / releases[-1]["version"] / "data/marches.csv").read_bytes() == reference_marches


# ------------------------------------------------------------------------------------------- (c) full disk

def test_full_disk_fails_in_one_line_and_keeps_the_previous_publication(previous, tmp_path):
    out = tmp_path / "pub"
    before = install_previous(previous, out)
    limit = 32 * 1024  # bytes a process may write to one file: the tables do not fit

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = cli("run", "--from-files", SAMPLE_DIR, "--out", out, preexec_fn=small_disk)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    # The first table that does not fit stops the run (the message is the writer's: CSV or Parquet).
    assert lines[0].startswith(f"achats-innovants: erreur: {out} : écriture impossible (")
    assert "File too large" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert tree_digest(out) == before
    assert leftovers(out) == []


# ------------------------------------------------------------------------------------------- (d) unwritable

@pytest.mark.parametrize("where, message", [
    ("datapackage.json/pub", "impossible d'écrire la publication (File exists)"),  # parent is a file
    ("data/marches.csv", "existe et n'est pas un dossier"),                            # target is a file
])
def test_unwritable_output_fails_in_one_line_and_keeps_the_previous_publication(previous, tmp_path, capsys,
                                                                                where, message):
    from pipelines import cli as console

    published = tmp_path / "pub"
    before = install_previous(previous, published)
    target = published / where
    code = console.main(["run", "--from-files", str(SAMPLE_DIR / "decp-2024-demo-2025-04.json"), "--out",
                         str(target)])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.splitlines() == [f"achats-innovants: erreur: {target} : {message}"]
    assert tree_digest(published) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pub"]
