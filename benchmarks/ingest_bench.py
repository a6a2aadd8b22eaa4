"""Streaming check: peak memory of reading a large DECP 2024 JSON file, against the file's size.

Usage: .venv/bin/python benchmarks/ingest_bench.py [RECORDS]   (default 200 000, about 200 MB)
Prints file size, time, records/s and the peak RSS growth while only *reading* the records (read_records), so a
flat figure shows the file is streamed, not loaded whole. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from pipelines.decp.readers import read_records


def _record(i: int) -> dict:
    return {
        "id": f"2025-{i:08d}", "acheteur": {"id": "21590163800019"}, "nature": "Marché",
        "objet": f"Travaux de rénovation du bâtiment {i % 97} : lot {i % 12} menuiseries intérieures et peintures",
        "codeCPV": "45421000", "procedure": "Procédure adaptée",
        "lieuExecution": {"code": "59170", "typeCode": "Code postal"}, "dureeMois": 12,
        "dateNotification": "2025-03-14", "datePublicationDonnees": "2025-03-20", "montant": 55600 + i % 1000,
        "formePrix": "Forfaitaire", "attributionAvance": False, "offresRecues": 3, "marcheInnovant": False,
        "ccag": "Travaux", "sousTraitanceDeclaree": False, "typeGroupementOperateurs": "Pas de groupement",
        "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "79466656000022"}}],
        "techniques": {"technique": ["Sans objet"]}, "typesPrix": {"typePrix": ["Définitif ferme"]},
    }


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "decp.json"
        with path.open("w", encoding="utf-8") as handle:
            handle.write('{"marches": {"marche": [')
            for i in range(count):
                handle.write(("," if i else "") + json.dumps(_record(i), ensure_ascii=False))
            handle.write('], "contrat-concession": []}}')
        size = path.stat().st_size
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        read = sum(1 for _ in read_records(path, max_bytes=size + 1))
        elapsed = time.perf_counter() - start
        growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"file: {size / 1e6:.1f} MB, {read} records read in {elapsed:.1f} s ({read / elapsed:,.0f} records/s)")
    print(f"peak RSS growth while reading: {growth_kib / 1024:.1f} MiB ({growth_kib * 1024 / size:.1%} of the file)")


if __name__ == "__main__":
    main()
