"""The fault drill (tests/faults/drill.py) end to end: every fault gives what its row expects."""
import pytest

from tests.faults.drill import FAULTS, drill, table

pytestmark = pytest.mark.slow


def test_every_fault_of_the_drill_is_handled(tmp_path):
    rows = drill(FAULTS, str(tmp_path))
    assert [r["name"] for r in rows] == list(FAULTS)
    failed = [r for r in rows if r["status"] == "FAILED"]
    assert not failed, table(failed)
