import dagster as dg

from .assets import PIPELINE

publier_decp = dg.define_asset_job(
    "publier_decp",
    selection=PIPELINE,
    description="Whole pipeline: read the inputs (raw snapshots or files), normalise, classify, compute indicators, "
                "validate, publish. Runs by itself after each collection (automation conditions); this job is for "
                "manual runs and `make run`.",
    # One process: the steps hand DataFrames to each other, and each of the eight Great Expectations checks would
    # otherwise pay GX's import (~3 s) in a process of its own.
    executor_def=dg.in_process_executor,
)
