"""Release tooling around a written publication: extra formats, checksums, DCAT catalogue, archives, changelog,
data.gouv.fr upload.

Plain modules (no Dagster import), called by the publisher after the tables are written. Each function works on
paths relative to the publication folder and writes its files atomically; errors name the file and the problem.
"""

from .archive import archive_snapshot, latest_snapshot, snapshot_sort_key
from .changelog import (diff_tables, primary_keys_from_package, release_manifest, render_changelog,
                        write_changelog)
from .datagouv import (DataGouvConfig, DataGouvError, upload_configured, upload_if_configured,
                       upload_to_datagouv)
from .dcat import dcat_catalog, distribution, write_dcat
from .json_export import write_indicators_json
from .sums import read_sha256sums, verify_sha256sums, write_sha256sums
from .xlsx import EXCEL_MAX_ROWS, write_xlsx

__all__ = [
    "EXCEL_MAX_ROWS",
    "DataGouvConfig",
    "DataGouvError",
    "archive_snapshot",
    "dcat_catalog",
    "diff_tables",
    "distribution",
    "latest_snapshot",
    "primary_keys_from_package",
    "read_sha256sums",
    "release_manifest",
    "render_changelog",
    "snapshot_sort_key",
    "upload_configured",
    "upload_if_configured",
    "upload_to_datagouv",
    "verify_sha256sums",
    "write_changelog",
    "write_dcat",
    "write_indicators_json",
    "write_sha256sums",
    "write_xlsx",
]
