import dagster as dg

from .. import settings


class DecpInputs(dg.ConfigurableResource):
    """Local DECP files or folders to read (default: ACHATS_INPUT_PATHS, else the shipped fictitious sample)."""

    paths: list[str] = settings.input_paths()
    max_file_bytes: int = settings.max_file_bytes()


class PublicationTarget(dg.ConfigurableResource):
    """Folder the publication is swapped into (default: ACHATS_OUT_DIR, else published/)."""

    out_dir: str = str(settings.out_dir())
