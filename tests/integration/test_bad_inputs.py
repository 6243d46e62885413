"""Every bad input of tests/bad_cases.py through the CLI, as a user would run it: exit 2 and one line
naming the file or key (or each bad file quarantined with its reason), no traceback, no user file changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_cases import CASES, Unavailable, run_case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path: Path):
    try:
        outcome = run_case(case, tmp_path)
    except Unavailable as e:
        pytest.skip(str(e))
    assert outcome.ok, f"{case.name}: {outcome.problems}\n--- stderr:\n{outcome.stderr[-3000:]}"
