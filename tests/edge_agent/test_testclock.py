"""The test setting that shifts the agent's wall clock (for wrong-clock tests only)."""

from __future__ import annotations

import time

import pytest

from edge_agent.errors import ConfigError
from edge_agent.wiring.testclock import ENV, shifted_wall


def test_unset_means_the_real_clock() -> None:
    assert shifted_wall({}) is None
    assert shifted_wall({ENV: " "}) is None


def test_a_day_behind() -> None:
    wall = shifted_wall({ENV: "-86400"})
    assert wall is not None
    assert abs(wall() - (time.time() - 86400)) < 5


def test_not_a_number_names_the_setting() -> None:
    with pytest.raises(ConfigError) as err:
        shifted_wall({ENV: "yesterday"})
    assert ENV in str(err.value)
