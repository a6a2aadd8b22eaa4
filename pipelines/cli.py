"""Console script ``achats-innovants`` (DESIGN §7). Errors end in one line naming the file and the problem."""

from __future__ import annotations

import argparse
import datetime as dt
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
    run.add_argument("--since", help="collecte en ligne : date de début (AAAA-MM-JJ ; défaut : début du dernier mois "
                                     "complet)")
    run.add_argument("--until", help="collecte en ligne : date de fin incluse (AAAA-MM-JJ ; défaut : fin du dernier "
                                     "mois complet)")
    run.add_argument("--sources", help="collecte en ligne : sources séparées par des virgules (défaut : decp,boamp,ted)")
    run.add_argument("--max-file-bytes", type=int, default=None,
                     help="taille maximale d'un fichier d'entrée (défaut : ACHATS_MAX_FILE_BYTES ou 4 Gio)")

    classify = commands.add_parser("classify", help="ajouter innovant, innovation_score, innovation_signaux à un CSV")
    classify.add_argument("input", type=Path, metavar="IN.csv")
    classify.add_argument("--out", type=Path, required=True, metavar="OUT.csv")

    evaluate = commands.add_parser("evaluate", help="mesurer la décision sur le jeu étiqueté (validation croisée) : "
                                                    "précision, rappel, F1 par méthode et par source, erreurs")
    evaluate.add_argument("--real-data", type=Path, default=None,
                          help="dossier des données réelles étiquetées (défaut : ACHATS_REAL_DATA ou "
                               "../shared/data/real)")
    evaluate.add_argument("--repeats", type=int, default=None, help="répétitions de la validation croisée (défaut 3)")
    evaluate.add_argument("--card", type=Path, default=None, metavar="DIR",
                          help="écrire aussi la carte du modèle (carte-modele.json et .md) dans DIR")

    sirene = commands.add_parser("sirene", help="télécharger le stock SIRENE des unités légales (catégorie juridique "
                                                "des acheteurs, taille des titulaires) ; réseau nécessaire")
    sirene.add_argument("--url", default=None, help="adresse du fichier Parquet (défaut : ACHATS_SIRENE_URL)")
    sirene.add_argument("--out", type=Path, default=None, help="fichier écrit (défaut : ACHATS_SIRENE_PATH)")

    status = commands.add_parser("status", help="état des sources d'après l'instance Dagster : dernière partition "
                                                "collectée, ses lignes, les échecs depuis")
    status.add_argument("--json", action="store_true", help="une liste JSON (pour la supervision) au lieu du tableau")

    train = commands.add_parser("train", help="réentraîner le modèle de texte livré et écrire sa carte à côté")
    train.add_argument("--real-data", type=Path, default=None, help="comme pour evaluate")
    train.add_argument("--model", type=Path, default=None, metavar="FICHIER.json.gz",
                       help="fichier du modèle écrit (défaut : le modèle livré, pipelines/classify/model/)")
    return parser


def _run(args: argparse.Namespace) -> int:
    from .pipeline import SOURCES, last_complete_month, run_from_files, run_live

    out_dir = args.out or settings.out_dir()
    if args.from_files:
        summary = run_from_files(args.from_files, out_dir, args.max_file_bytes)
    else:
        default_since, default_until = last_complete_month()
        since = _date(args.since, "--since") if args.since else default_since
        until = _date(args.until, "--until") if args.until else default_until
        sources = [s.strip() for s in (args.sources or ",".join(SOURCES)).split(",") if s.strip()]
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown or since > until:
            problem = f"source inconnue : {', '.join(unknown)}" if unknown else f"--since {since} après --until {until}"
            print(f"{PROG}: erreur: {problem} (sources : {', '.join(SOURCES)})", file=sys.stderr)
            return 2
        summary = run_live(out_dir, since, until, sources, settings.raw_dir(), settings.crawl_settings(),
                           max_bytes=args.max_file_bytes)
    print(f"{summary.fichiers} fichiers lus, {summary.marches} marchés publiés dont {summary.innovants} innovants, "
          f"{summary.avis} avis dont {summary.avis_innovants} innovants, {summary.rejets} rejets ; "
          f"publication : {Path(out_dir).resolve()}")
    return 0


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{option} {text!r} : date AAAA-MM-JJ attendue") from exc


def _classify(args: argparse.Namespace) -> int:
    from .classify_csv import classify_csv

    rows = classify_csv(args.input, args.out)
    print(f"{rows} lignes classées : {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .classify import commands, evaluation, training

    result = commands.evaluate(args.real_data or settings.real_data_dir(), repeats=args.repeats or training.REPEATS)
    print(result.text)
    if args.card:
        for path in evaluation.write_card(result.card, args.card, evaluation.worst_mistakes(result.oof)):
            print(f"carte du modèle : {path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .classify import commands
    from .classify.decision import MODEL_PATH

    model = args.model or MODEL_PATH
    result = commands.train(args.real_data or settings.real_data_dir(), model)
    print(result.text)
    print(f"modèle : {model} ; carte : {model.parent / 'carte-modele.md'}")
    return 0


def _sirene(args: argparse.Namespace) -> int:
    from .sirene.stock import download_stock

    path = download_stock(args.url, args.out)
    print(f"stock SIRENE : {path} ({path.stat().st_size:,} octets) ; les prochaines exécutions l'utilisent".replace(",", " "))
    return 0


# Source → (asset, partitions); the publication is listed too, as the end of the chain.
STATUS_ASSETS = (("boamp", "raw_boamp", "daily"), ("ted", "raw_ted", "daily"), ("decp", "raw_decp", "monthly"),
                 ("publication", "publication", None))


def _status(args: argparse.Namespace) -> int:
    import json

    import dagster as dg

    from .defs import collect
    from .operations.status import asset_status, render

    home = Path(os.environ.get("DAGSTER_HOME") or settings.REPO_ROOT / ".dagster")
    if not home.is_dir():
        raise FileNotFoundError(f"{home} : aucune instance Dagster (lancez `make dev`, ou indiquez-la avec DAGSTER_HOME)")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        statuses = [asset_status(instance, source, dg.AssetKey(asset), getattr(collect, kind) if kind else None)
                    for source, asset, kind in STATUS_ASSETS]
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], ensure_ascii=False, indent=2))
    else:
        print(f"instance Dagster : {home.resolve()}")
        print(render(statuses))
    return 0


COMMANDS = {"run": _run, "status": _status, "classify": _classify, "evaluate": _evaluate, "train": _train, "sirene": _sirene}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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
