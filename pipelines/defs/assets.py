"""Assets of the DECP pipeline: files → normalised tables → classified contracts → indicators → publication."""

from collections import Counter
from pathlib import Path

import dagster as dg
import pandas as pd

from .. import pipeline
from ..classify import METHOD_VERSION
from ..classify.decision import model_path
from ..decp.batch import Read
from .collect import raw_boamp, raw_decp, raw_ted
from .metadata import table_metadata
from .resources import DecpInputs, PublicationTarget, RawStore

OWNERS = ["team:observatoire-donnees"]
# The groups read like the data flow: collecte → normalisation → classement → indicateurs → publication.
PIPELINE_GROUPS = ("normalisation", "classement", "indicateurs", "publication")
PIPELINE = dg.AssetSelection.groups(*PIPELINE_GROUPS)
# Each step runs again once what it reads has changed (and nothing upstream is still running). The raw assets have
# thousands of daily partitions, most never collected (or not yet): missing ones must not hold the publication back.
AFTER_RAW = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()).with_label(
    "après chaque collecte")
EAGER = dg.AutomationCondition.eager()


@dg.asset(group_name="normalisation", kinds={"python"}, deps=[raw_decp, raw_boamp, raw_ted], owners=OWNERS,
          automation_condition=AFTER_RAW)
def entrees(decp_inputs: DecpInputs, raw_store: RawStore,
            publication_target: PublicationTarget) -> dg.Output[Read]:
    """Records read from the inputs (DECP, BOAMP, TED; formats detected): the configured files, else the raw
    snapshots of every committed partition (fails when there are none)."""
    paths = decp_inputs.paths or pipeline.default_inputs(Path(raw_store.root))
    ingested = pipeline.ingest(paths, decp_inputs.max_file_bytes, Path(publication_target.out_dir))
    files = pd.DataFrame(pipeline.input_manifest(ingested.fichiers))
    reasons = Counter(r["motif"] for r in ingested.rejets)
    return dg.Output(ingested, metadata={
        "dagster/row_count": dg.MetadataValue.int(len(ingested.marches) + len(ingested.concessions)
                                                  + len(ingested.avis)),
        "fichiers": dg.MetadataValue.int(len(ingested.fichiers)),
        "marches_lus": dg.MetadataValue.int(len(ingested.marches)),
        "concessions_lues": dg.MetadataValue.int(len(ingested.concessions)),
        "avis_lus": dg.MetadataValue.int(len(ingested.avis)),
        "rejets": dg.MetadataValue.int(len(ingested.rejets)),
        "rejets_par_motif": dg.MetadataValue.json(dict(reasons)),
        "detail_fichiers": dg.MetadataValue.md(files.to_markdown(index=False) if len(files) else "_aucun fichier_"),
    })


def _out(description: str) -> dg.AssetOut:
    return dg.AssetOut(description=description, owners=OWNERS, automation_condition=EAGER)


@dg.multi_asset(
    group_name="normalisation",
    outs={
        "marches_normalises": _out("One row per contract: duplicates merged, modifications applied."),
        "titulaires": _out("Suppliers of each contract (published table)."),
        "concessions": _out("Concession contracts, kept apart from the 2 % measure (published table)."),
        "avis_normalises": _out("One row per notice: BOAMP copies of TED notices merged."),
        "rejets": _out("Records and files that could not be used, with the reason (published table)."),
        "qualite": _out("What was read in each input file: kept, merged, rejected, checks (published)."),
    },
)
def normalisation(entrees: Read):
    """Consolidate records into contracts, suppliers, concessions, notices and rejects."""
    normalized = pipeline.normalize(entrees)
    yield dg.Output(normalized.marches, "marches_normalises", metadata=table_metadata(normalized.marches, "marches"))
    yield dg.Output(normalized.titulaires, "titulaires", metadata=table_metadata(normalized.titulaires, "titulaires"))
    yield dg.Output(normalized.concessions, "concessions",
                    metadata=table_metadata(normalized.concessions, "concessions"))
    yield dg.Output(normalized.avis, "avis_normalises", metadata=table_metadata(normalized.avis, "avis"))
    yield dg.Output(normalized.rejets, "rejets", metadata=table_metadata(normalized.rejets, "rejets"))
    yield dg.Output(normalized.qualite, "qualite", metadata=table_metadata(normalized.qualite, "qualite"))


def _classified(frame: pd.DataFrame, table: str) -> dg.Output[pd.DataFrame]:
    metadata = table_metadata(frame, table)
    metadata["innovants"] = dg.MetadataValue.int(int(frame["innovant"].sum()))
    metadata["methode"] = dg.MetadataValue.text(METHOD_VERSION)
    metadata["carte_du_modele"] = dg.MetadataValue.path(str(model_path().parent / "carte-modele.md"))
    return dg.Output(frame, metadata=metadata)


@dg.asset(group_name="classement", kinds={"pandas"}, owners=OWNERS, automation_condition=EAGER)
def marches(marches_normalises: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Contracts with the pipeline's decision: innovant, innovation_score, innovation_signaux (published table)."""
    return _classified(pipeline.classify_marches(marches_normalises), "marches")


@dg.asset(group_name="classement", kinds={"pandas"}, owners=OWNERS, automation_condition=EAGER)
def avis(avis_normalises: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Notices (BOAMP, TED) with the pipeline's decision and the structured innovation signals (published table)."""
    return _classified(pipeline.classify_avis(avis_normalises), "avis")


@dg.asset(group_name="indicateurs", kinds={"pandas"}, owners=OWNERS, automation_condition=EAGER)
def indicateurs(marches: pd.DataFrame, titulaires: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Shares of innovative purchases per year, scope and breakdown against the targets (published table)."""
    table = pipeline.indicators(marches, titulaires)
    return dg.Output(table, metadata=table_metadata(table, "indicateurs"))


@dg.asset(group_name="indicateurs", kinds={"pandas"}, owners=OWNERS, automation_condition=EAGER)
def references(indicateurs: pd.DataFrame, marches: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Official figures beside ours on the closest comparable scope, with the difference and why (published)."""
    table = pipeline.references(indicateurs, marches)
    return dg.Output(table, metadata=table_metadata(table, "references"))


@dg.asset(group_name="publication", kinds={"csv", "parquet"}, owners=OWNERS, automation_condition=EAGER)
def publication(
    publication_target: PublicationTarget,
    entrees: Read,
    marches: pd.DataFrame,
    titulaires: pd.DataFrame,
    concessions: pd.DataFrame,
    avis: pd.DataFrame,
    indicateurs: pd.DataFrame,
    references: pd.DataFrame,
    rejets: pd.DataFrame,
    qualite: pd.DataFrame,
) -> dg.MaterializeResult:
    """The published folder (datapackage.json + data/), validated whole, then swapped in."""
    out_dir = Path(publication_target.out_dir)
    files = pipeline.publish_tables(marches, titulaires, concessions, avis, indicateurs, references, rejets, qualite,
                                    entrees.fichiers, out_dir)
    listing = pd.DataFrame([{"fichier": f.path, "lignes": f.rows, "octets": f.bytes, "sha256": f.sha256[:16]}
                            for f in files])
    headline = indicateurs[(indicateurs["ventilation"] == "ensemble") & (indicateurs["famille"] == "objet_innovant")
                           & indicateurs["mesure"].isin(["part_montant", "part_nombre"])]
    preview = headline[["annee", "perimetre", "mesure", "valeur", "numerateur", "denominateur", "couverture"]]
    return dg.MaterializeResult(metadata={
        "dossier": dg.MetadataValue.path(str(out_dir.resolve())),
        "rapport": dg.MetadataValue.path(str(out_dir.resolve() / "index.html")),
        "datapackage": dg.MetadataValue.path(str(out_dir.resolve() / "datapackage.json")),
        "catalogue_dcat": dg.MetadataValue.path(str(out_dir.resolve() / "catalog.jsonld")),
        "journal_des_publications": dg.MetadataValue.path(str(out_dir.resolve() / "archive" / "CHANGELOG.md")),
        "apercu_indicateurs": dg.MetadataValue.md(preview.to_markdown(index=False)),
        "fichiers": dg.MetadataValue.md(listing.to_markdown(index=False)),
    })
