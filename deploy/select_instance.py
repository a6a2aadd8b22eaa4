"""Write $DAGSTER_HOME/dagster.yaml: the PostgreSQL instance when ACHATS_PG_HOST is set, else embedded SQLite.

Usage: python deploy/select_instance.py   (DAGSTER_HOME must be set; the folder is created if missing)
"""

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG_VARS = ("ACHATS_PG_HOST", "ACHATS_PG_PORT", "ACHATS_PG_DB", "ACHATS_PG_USER", "ACHATS_PG_PASSWORD")


def main() -> int:
    home = os.environ.get("DAGSTER_HOME", "").strip()
    if not home:
        print("select_instance: DAGSTER_HOME n'est pas défini", file=sys.stderr)
        return 2
    if os.environ.get("ACHATS_PG_HOST", "").strip():
        # Fail here, in one line, rather than in a Dagster config error at the first run. The password may be
        # empty (trust authentication) but must be set: the yaml reads every variable.
        missing = [name for name in PG_VARS
                   if name not in os.environ or (name != "ACHATS_PG_PASSWORD" and not os.environ[name].strip())]
        if missing:
            print(f"select_instance: ACHATS_PG_HOST est défini mais pas {', '.join(missing)}", file=sys.stderr)
            return 2
        template = HERE / "dagster-postgres.yaml"
    else:
        template = HERE / "dagster-sqlite.yaml"
    target = Path(home) / "dagster.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    print(f"{target} <- {template.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
