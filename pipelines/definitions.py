"""Dagster code location of the Observatoire des achats innovants (``dagster dev`` from the repository root)."""

import dagster as dg

from .defs import assets, checks, jobs
from .defs.resources import DecpInputs, PublicationTarget

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=[*checks.SCHEMA_CHECKS, checks.regles_metier_marches],
    jobs=[jobs.publier_decp],
    schedules=[jobs.publication_quotidienne],
    resources={"decp_inputs": DecpInputs(), "publication_target": PublicationTarget()},
)
