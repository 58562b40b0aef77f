"""The `hazard` command line end to end on a small synthetic region."""

import json
from pathlib import Path

import pytest

from hazardcore.cli import build_parser, main


@pytest.mark.integration
def test_synth_then_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", str(tmp_path / "region"), "--size-km", "12x8", "--slices", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "oracle AUC" in out and "12 x 8" in out
    catalog = tmp_path / "region" / "catalog.yaml"
    assert main(["prepare", str(catalog), "--out", str(tmp_path / "work"), "--quiet"]) == 0
    out = capsys.readouterr().out
    # 12 x 8 cells: base rows 0,4,8 x cols 0,4 = 6 ; shifted rows 2,6 x col 2 = 2
    assert "6 base + 2 shifted" in out
    summary = json.loads((tmp_path / "work" / "prepare.json").read_text())
    assert summary["region_cells"] == [12, 8] and len(summary["positive_fraction"]) == 2
    from hazardcore.cube import PreparedCube

    cube = PreparedCube.open(tmp_path / "work")
    assert set(cube.truth) == {"p_occurrence", "expected_density_given_occurrence"}
    assert cube.truth["p_occurrence"].shape == (2, 12, 8) and 0 <= cube.truth["p_occurrence"].min() < 1


def test_every_subcommand_explains_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    for command, words in (("synth", ["--seed", "--size-km", "--slices"]), ("prepare", ["--out", "catalog"])):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args([command, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        assert all(word in text for word in words)


def test_bad_size_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["synth", "out", "--size-km", "2"])
    assert "every side >= 4 km" in capsys.readouterr().err


def test_set_overrides_reach_the_right_config_and_are_checked() -> None:
    from hazardcore.cli import apply_overrides
    from hazardcore.config import demo_configs
    from hazardcore.errors import ConfigError

    model, train = apply_overrides(*demo_configs(), ["samples_per_epoch=2048", "cell_px=8", "loss=focal_tversky",
                                                     "decoder_channels=[32, 16, 8, 4]"])
    assert (train.samples_per_epoch, train.loss, model.cell_px, model.decoder_channels) == (
        2048, "focal_tversky", 8, [32, 16, 8, 4])
    assert train.max_epochs_susceptibility == demo_configs()[1].max_epochs_susceptibility
    with pytest.raises(ConfigError, match="unknown setting 'epochs'"):
        apply_overrides(*demo_configs(), ["epochs=3"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides(*demo_configs(), ["samples_per_epoch"])
    with pytest.raises(ConfigError, match="samples_per_epoch"):
        apply_overrides(*demo_configs(), ["samples_per_epoch=-5"])


def test_bare_hazard_prints_help_version_and_a_missing_workdir_fails(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hazardcore import __version__
    from hazardcore.cli import main

    assert main([]) == 0 and "explain" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and __version__ in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "no-such-dir")]) == 2
    assert "no such working folder" in capsys.readouterr().err


def test_runs_json_lists_each_run_with_its_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "runs" / "0123456789"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": {}, "train": {"split": "temporal"}}))
    (run / "status.json").write_text(json.dumps({"train": {"state": "failed", "started": "2026-01-01T00:00:00+00:00",
                                                           "ended": "2026-01-01T00:01:00+00:00", "error": "boom"}}))
    assert main(["runs", str(tmp_path), "--json", "--verify"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["run"] == "0123456789" and record["split"] == "temporal" and record["files"] == {}
    assert record["steps"]["train"]["state"] == "failed" and "train failed" in record["summary"]
    assert main(["runs", str(tmp_path / "runs" / "0123456789"), "--json"]) == 0  # no runs: an empty list
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "no runs" not in captured.err


def test_verbosity_goes_to_stderr_and_results_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("no runs under")  # a hint, not a result
    assert main(["-q", "runs", str(tmp_path)]) == 0 and capsys.readouterr().err == ""
    assert main(["runs", str(tmp_path), "-vv"]) == 0
    assert "debug: hazardcore: hazard runs" in capsys.readouterr().err
    assert main(["runs", str(tmp_path), "-qq"]) == 0 and capsys.readouterr().err == ""


def test_exit_status_says_usage_data_or_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hazardcore.cli import EXIT_STATUS, exit_status
    from hazardcore.errors import CatalogError, CheckpointError, ConfigError, IntegrityError, MissingFileError

    assert [exit_status(e("x")) for e in (ConfigError, CatalogError, MissingFileError, IntegrityError,
                                          CheckpointError)] == [2, 3, 3, 3, 1]
    with pytest.raises(SystemExit) as done:
        main(["runs", str(tmp_path), "--no-such-option"])
    assert done.value.code == 2
    assert main(["prepare", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "w")]) == 3
    assert "catalog file not found" in capsys.readouterr().err
    text = build_parser().format_help()
    assert all(f"  {code}  " in text.split("exit status:")[1] for code in EXIT_STATUS)


def test_a_command_needing_torch_names_the_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """(tests/test_portable.py runs it where torch really is missing.)"""
    from hazardcore import cli

    def without_torch(args: object) -> int:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(cli, "_cmd_train", without_torch)
    assert main(["train", str(tmp_path), "-q"]) == 1
    assert "pip install 'hazardcore[train]'" in capsys.readouterr().err
