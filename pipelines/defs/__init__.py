"""Dagster wrappers: thin assets and checks around the plain modules of ``pipelines``."""
