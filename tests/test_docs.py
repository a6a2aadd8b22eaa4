"""The README is the user's manual: it must keep up with the codes the data carries."""

import re

from pipelines import schemas
from pipelines.classify import SIGNALS
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]


def test_every_signal_code_is_documented():
    missing = [code for code in SIGNALS if f"`{code}`" not in README]
    assert missing == []


def test_every_reject_reason_is_documented():
    motif = next(f for f in schemas.fields("rejets") if f["name"] == "motif")
    missing = [code for code in motif["constraints"]["enum"] if f"`{code}`" not in README]
    assert missing == []
