import dagster as dg

publier_decp = dg.define_asset_job(
    "publier_decp",
    selection=dg.AssetSelection.groups("publication"),
    description="Whole pipeline: read the inputs (raw snapshots or files), normalise, classify, compute indicators, validate, publish.",
    # One process: the steps hand DataFrames to each other, and each of the eight Great Expectations checks would
    # otherwise pay GX's import (~3 s) in a process of its own.
    executor_def=dg.in_process_executor,
)

publication_quotidienne = dg.ScheduleDefinition(
    name="publication_quotidienne",
    job=publier_decp,
    cron_schedule="0 10 * * *",
    execution_timezone="Europe/Paris",
    description="Daily rebuild of the publication, after the morning collection (07:00) has committed yesterday.",
)
