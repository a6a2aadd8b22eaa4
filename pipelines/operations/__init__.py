"""Operating the pipeline: watching data.gouv.fr for new DECP files, alerts on failed runs, status of the sources.

decp_watch and alerts are plain logic, unit-tested without Dagster (pipelines/defs wires them into sensors);
status reads the Dagster instance for the CLI.
"""
