"""Dagster code location of the Observatoire des achats innovants (``dagster dev`` from the repository root)."""

import dagster as dg

from .defs import assets, checks, collect, jobs
from .defs.resources import DecpInputs, PublicationTarget, RawStore

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([collect, assets]),
    asset_checks=checks.ALL_CHECKS,
    jobs=[jobs.publier_decp, collect.collecte_quotidienne, collect.collecte_mensuelle],
    schedules=[jobs.publication_quotidienne, collect.collecte_quotidienne_schedule, collect.collecte_mensuelle_schedule],
    resources={"decp_inputs": DecpInputs(), "publication_target": PublicationTarget(), "raw_store": RawStore()},
)
