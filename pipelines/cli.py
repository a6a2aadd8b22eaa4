"""Console script ``achats-innovants`` (DESIGN §7). Errors end in one line naming the file and the problem."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from . import settings

PROG = "achats-innovants"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Observatoire des achats innovants (DECP, BOAMP, TED).")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="exécuter le pipeline complet et publier dans --out")
    run.add_argument("--from-files", nargs="+", metavar="PATH",
                     help="fichiers ou dossiers locaux (formats détectés d'après le contenu)")
    run.add_argument("--out", type=Path, default=None, help="dossier de publication (défaut : ACHATS_OUT_DIR ou published/)")
    run.add_argument("--since", help="collecte en ligne : date de début (AAAA-MM-JJ)")
    run.add_argument("--until", help="collecte en ligne : date de fin (AAAA-MM-JJ)")
    run.add_argument("--sources", help="collecte en ligne : sources séparées par des virgules (decp,boamp,ted)")
    run.add_argument("--max-file-bytes", type=int, default=None,
                     help="taille maximale d'un fichier d'entrée (défaut : ACHATS_MAX_FILE_BYTES ou 4 Gio)")

    classify = commands.add_parser("classify", help="ajouter innovant, innovation_score, innovation_signaux à un CSV")
    classify.add_argument("input", type=Path, metavar="IN.csv")
    classify.add_argument("--out", type=Path, required=True, metavar="OUT.csv")
    return parser


def _run(args: argparse.Namespace) -> int:
    from .pipeline import run_from_files

    if not args.from_files:
        print(f"{PROG}: erreur: la collecte en ligne (DECP, BOAMP, TED) n'est pas encore disponible dans cette "
              "version ; utilisez --from-files PATH...", file=sys.stderr)
        return 2
    out_dir = args.out or settings.out_dir()
    summary = run_from_files(args.from_files, out_dir, args.max_file_bytes)
    print(f"{summary.fichiers} fichiers lus, {summary.marches} marchés publiés dont {summary.innovants} innovants, "
          f"{summary.rejets} rejets ; publication : {Path(out_dir).resolve()}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from .classify_csv import classify_csv

    rows = classify_csv(args.input, args.out)
    print(f"{rows} lignes classées : {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _classify(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrompu", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the contract is one line, never a bare traceback
        if os.environ.get("ACHATS_DEBUG"):
            traceback.print_exc()
        message = str(exc) or type(exc).__name__
        print(f"{PROG}: erreur: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
