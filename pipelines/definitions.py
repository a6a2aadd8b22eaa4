"""Dagster code location of the Observatoire des achats innovants (``dagster dev`` from the repository root)."""

import dagster as dg

from .defs import assets, automation, checks, collect, jobs
from .defs.resources import DecpInputs, PublicationTarget, RawStore

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([collect, assets]),
    asset_checks=[*checks.ALL_CHECKS, *automation.FRESHNESS_CHECKS],
    jobs=[jobs.publier_decp, collect.collecte_quotidienne, collect.collecte_mensuelle],
    schedules=[collect.collecte_quotidienne_schedule],
    sensors=automation.SENSORS,
    resources={"decp_inputs": DecpInputs(), "publication_target": PublicationTarget(), "raw_store": RawStore(),
               "decp_catalogue": automation.DecpCatalogue()},
    # Runs the automation sensor launches (the pipeline's assets, not a named job) are in one process, like
    # publier_decp: the steps hand DataFrames to each other and GX is imported once. The crawl jobs set their own.
    executor=dg.in_process_executor,
)
