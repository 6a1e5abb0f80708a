"""Every ``aspen-lab`` command's ``--help`` in one style: defaults said once, no rST
backticks, no "(default: None)"."""

from __future__ import annotations

import pytest

from lab.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_defaults_once_and_no_markup(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out
    assert "(default: None)" not in out
    flat = " ".join(out.split())
    assert "(default: None)" not in flat and ") (default:" not in flat, flat


def test_chaos_help_lists_every_scenario_with_its_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lab.chaos.scenarios import SCENARIOS

    with pytest.raises(SystemExit):
        main(["chaos", "--help"])
    out = capsys.readouterr().out
    assert "--nodes NODES         (default: 3)" in out
    for name, scenario in SCENARIOS.items():
        assert f"  {name} " in out and scenario.description[:30] in out
