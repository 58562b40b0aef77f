"""Faults survived: SIGKILL of training and of writers, damaged files, unfinished runs.

Real subprocesses are killed with SIGKILL (no handler runs, as in an out-of-memory kill or a
power cut); what they leave must resume to the same weights, keep the previous file
intact, and never be listed or used as a finished run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from test_train import SimulatedKillError, run_dir, tiny_configs

from hazardcore import export, integrity
from hazardcore.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from hazardcore.errors import CheckpointError, IntegrityError
from hazardcore.pipeline import find_run, list_runs, predict_run
from hazardcore.runstatus import read_status, step_state
from hazardcore.train import train

TINY = ["--config", "demo", "--split", "random", "--device", "cpu", "--seed", "0", "--quiet",
        "--set", "cell_px=8", "--set", "encoder_depth=3", "--set", "decoder_channels=[16,8,4]",
        "--set", "density_conv_channels=4", "--set", "density_hidden=[16,8]", "--set", "batch_size=4",
        "--set", "max_epochs_susceptibility=4", "--set", "max_epochs_density=4",
        "--set", "patience=10", "--set", "num_threads=1"]
PROCESS_TIMEOUT_S = 240


def hazard(*args: str) -> subprocess.Popen[bytes]:
    """``hazard ARGS`` in a new process (its own session, so a kill reaches nothing else)."""
    return subprocess.Popen([sys.executable, "-m", "hazardcore.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def finish(process: subprocess.Popen[bytes]) -> None:
    output, _ = process.communicate(timeout=PROCESS_TIMEOUT_S)
    assert process.returncode == 0, output.decode()[-3000:]


def log_records(run: Path) -> list[dict[str, object]]:
    path = run / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def kill_during_epoch(process: subprocess.Popen[bytes], run: Path, completed_epochs: int, fraction: float) -> None:
    """SIGKILL ``process`` ``fraction`` of an epoch after its ``completed_epochs``-th epoch was logged.

    Right after the log line (``fraction`` 0) the epoch's checkpoints are being written;
    half an epoch later the next epoch is training.
    """
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while len(records := log_records(run)) < completed_epochs:
        assert process.poll() is None, process.communicate()[0].decode()[-3000:]
        assert time.monotonic() < deadline, "training did not reach the epoch to kill"
        time.sleep(0.005)
    time.sleep(fraction * float(records[-1]["seconds"]))  # type: ignore[arg-type]
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def weights_sha256(path: Path) -> str:
    """Checksum of a checkpoint's weights (the tensors' bytes in name order)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(load_checkpoint(path).weights.items()):
        digest.update(name.encode())
        digest.update(tensor.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def test_sigkill_at_any_point_of_training_resumes_to_the_same_weights(tiny_workdir: Path, tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for folder in (straight, killed):
        shutil.copytree(tiny_workdir, folder)
    finish(hazard("train", str(straight), *TINY))
    run = run_dir(straight)
    assert step_state(run, "train") == "finished"
    total = len(log_records(run))
    assert total == 4 + 4  # susceptibility, density

    process = hazard("train", str(killed), *TINY)
    killed_run = killed / "runs" / run.name
    kill_during_epoch(process, killed_run, completed_epochs=1, fraction=0.0)  # writing epoch 0's checkpoints
    status = read_status(killed_run)["train"]
    assert status.state == "interrupted" and status.pid == process.pid
    assert not (killed_run / "model.pt").exists() and list_runs(killed) == []
    with pytest.raises(CheckpointError, match="train interrupted"):
        find_run(killed, run.name)
    for completed in (2, 5, 7):  # in susceptibility, early and late in the density stage
        process = hazard("train", str(killed), *TINY, "--resume")
        kill_during_epoch(process, killed_run, completed_epochs=completed, fraction=0.5)
        assert step_state(killed_run, "train") == "interrupted" and list_runs(killed) == []
    (killed_run / "checkpoints" / ".density_last.pt.x1.tmp").write_bytes(b"half a checkpoint")  # as a kill leaves
    finish(hazard("train", str(killed), *TINY, "--resume"))

    assert step_state(killed_run, "train") == "finished" and list_runs(killed) == [killed_run]
    assert not list(killed_run.glob("**/.*.tmp"))  # what killed writers left is gone
    assert weights_sha256(killed_run / "model.pt") == weights_sha256(run / "model.pt")
    assert [r["train_loss"] for r in log_records(killed_run)] == [r["train_loss"] for r in log_records(run)]


WRITER = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_faults import write_version
write_version(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]))
"""


def write_version(kind: str, path: Path, value: float) -> None:
    """128 MiB of ``value`` as a checkpoint or a NetCDF file (also run by the killed writer process)."""
    values = np.full((32, 1024, 1024), value, dtype="float32")
    if kind == "checkpoint":
        save_checkpoint(Checkpoint({}, {}, "hazard", {"w": torch.from_numpy(values)}, [], {}, []), path)
    else:
        export.write_netcdf(xr.Dataset({"w": (("z", "y", "x"), values)}), path)


def first_value(kind: str, path: Path) -> float:
    if kind == "checkpoint":
        return float(load_checkpoint(path).weights["w"][0, 0, 0])
    integrity.verify_file(path, fix="-")
    with xr.open_dataset(path) as ds:
        return float(ds["w"][0, 0, 0])


@pytest.mark.parametrize("kind,name", [("checkpoint", "last.pt"), ("netcdf", "predictions.nc")])
def test_sigkill_while_writing_keeps_the_previous_version(kind: str, name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    write_version(kind, path, 1.0)  # the previous version: 128 MiB of ones
    before = integrity.file_sha256(path)
    process = subprocess.Popen([sys.executable, "-c", WRITER, kind, str(path), "2.0"], start_new_session=True)
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while not [tmp for tmp in tmp_path.glob(f".{name}.*.tmp") if tmp.stat().st_size > 0]:
        assert process.poll() is None and time.monotonic() < deadline, "the writer ended before it was killed"
        time.sleep(0.001)
    os.killpg(process.pid, signal.SIGKILL)  # while the new version is being written
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert integrity.file_sha256(path) == before and first_value(kind, path) == 1.0
    assert [p.name for p in tmp_path.glob(f".{name}.*.tmp")], "the kill came after the write: nothing was tested"
    write_version(kind, path, 3.0)  # the next write replaces it and is trusted
    assert first_value(kind, path) == 3.0


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        data[len(data) // 2] ^= 0x01  # one bit
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "bit-flipped"])
def test_a_damaged_checkpoint_is_refused_naming_the_file(tmp_path: Path, how: str) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(Checkpoint({}, {}, "hazard", {"w": torch.arange(10_000.0)}, [], {}, []), path)
    damage(path, how)
    state = "truncated" if how == "truncated" else "corrupted"
    with pytest.raises(IntegrityError, match=rf"model\.pt: file is {state}") as error:
        load_checkpoint(path)
    assert str(tmp_path / "manifest.json") in str(error.value) and "--resume" in str(error.value)


def test_a_checkpoint_without_its_manifest_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "a" / "model.pt"
    save_checkpoint(Checkpoint({}, {}, "hazard", {"w": torch.ones(3)}, [], {}, []), path)
    moved = tmp_path / "model.pt"
    shutil.copy(path, moved)
    with pytest.raises(IntegrityError, match=r"no checksum recorded.*\n.*expected: an entry 'model.pt'"):
        load_checkpoint(moved)


def test_a_crash_between_manifest_and_rename_leaves_files_that_verify(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "metrics.json"
    export.write_json({"auc": 0.5}, path)

    def crash(*_: object) -> None:
        raise SimulatedKillError

    replace = os.replace

    def replace_but_metrics(source: str, target: str) -> None:
        if Path(target).name == "metrics.json":
            crash()
        replace(source, target)

    with monkeypatch.context() as patch:  # new version staged in the manifest, never renamed
        patch.setattr(os, "replace", replace_but_metrics)
        with pytest.raises(SimulatedKillError):
            export.write_json({"auc": 0.6}, path)
    assert json.loads(integrity.read_verified(path, fix="-")) == {"auc": 0.5}
    assert "metrics.json" in integrity.read_manifest(tmp_path)["pending"]

    original = integrity._update
    with monkeypatch.context() as patch:  # renamed, the commit to the manifest never happened
        patch.setattr(integrity, "_update", lambda folder, name, record, commit: crash() if commit
                      else original(folder, name, record, commit))
        with pytest.raises(SimulatedKillError):
            export.write_json({"auc": 0.7}, path)
    assert json.loads(integrity.read_verified(path, fix="-")) == {"auc": 0.7}
    export.write_json({"auc": 0.8}, path)
    assert "pending" not in integrity.read_manifest(tmp_path)


@pytest.mark.parametrize("error", [SimulatedKillError("disk full (simulated)"), KeyboardInterrupt()],
                         ids=["error", "ctrl-c"])
def test_failed_training_is_recorded_and_never_listed(tiny_workdir: Path, tmp_path: Path, error: BaseException,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from hazardcore.cli import main

    workdir = tmp_path / "work"
    shutil.copytree(tiny_workdir, workdir)
    model, config = tiny_configs(max_epochs_susceptibility=2)

    def fail(record: dict[str, object]) -> None:
        raise error

    with pytest.raises(type(error)):
        train(workdir, model, config, stage="all", callbacks=[fail])
    run = run_dir(workdir)
    status = read_status(run)["train"]
    expected = f"{type(error).__name__}: {error}".strip().rstrip(":")
    assert status.state == "failed" and status.error == expected
    assert list_runs(workdir) == []
    with pytest.raises(CheckpointError, match=rf"train failed .*{re.escape(expected)}"):
        predict_run(workdir, run)
    assert main(["runs", str(workdir)]) == 0
    assert f"{run.name}  random split; train failed" in capsys.readouterr().out


def test_a_fresh_training_makes_earlier_outputs_go(evaluated_root: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from hazardcore.cli import main

    root = tmp_path / "root"
    shutil.copytree(evaluated_root, root)
    (run,) = list_runs(root / "work")
    assert main(["runs", str(root / "work"), "--verify"]) == 0
    listed = capsys.readouterr().out
    assert "evaluate finished" in listed and "products/hazard.nc" in listed and "checkpoints/" in listed
    damage(run / "products" / "hazard.tif", "bit-flipped")
    assert main(["runs", str(root / "work"), "--verify"]) == 1
    assert "products/hazard.tif" in capsys.readouterr().out

    config = json.loads((run / "config.json").read_text())
    from hazardcore.config import ModelConfig, TrainConfig

    model_config, train_config = ModelConfig.from_dict(config["model"]), TrainConfig.from_dict(config["train"])

    def stop(record: dict[str, object]) -> None:
        raise SimulatedKillError

    with pytest.raises(SimulatedKillError):
        train(root / "work", model_config, train_config, callbacks=[stop])
    assert not any((run / name).exists() for name in ("model.pt", "predictions.nc", "metrics.json", "products"))
    assert set(read_status(run)) == {"train"} and list_runs(root / "work") == []


def test_a_run_another_live_process_is_training_is_refused_and_its_checkpoints_kept(tmp_path: Path) -> None:
    """Seen: `hazard train --members K` reached a member that a second command was training, and both wrote
    one log and one set of checkpoints; a fresh start would have deleted the other's checkpoints first."""
    import socket

    from hazardcore.config import ModelConfig, TrainConfig, config_hash
    from hazardcore.runfolder import STATUS
    from hazardcore.runstatus import recording, step_state
    from hazardcore.train import open_run

    model, config = ModelConfig(), TrainConfig()
    run = tmp_path / "work" / "runs" / config_hash(model, config)
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "susceptibility_last.pt").write_bytes(b"the other process's")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = {"state": "running", "started": "2026-12-07T02:22:00+00:00", "pid": other.pid,
                "host": socket.gethostname()}
        (run / STATUS).write_text(json.dumps({"train": busy, "predict": busy}))
        refused = rf"(?s)already being trained by another process.*process {other.pid}"
        with pytest.raises(CheckpointError, match=refused):
            open_run(tmp_path / "work", model, config, resume=False)
        assert (run / "checkpoints" / "susceptibility_last.pt").read_bytes() == b"the other process's"
        with pytest.raises(CheckpointError, match="already being predicted"), recording(run, "predict"):
            pass
        assert step_state(run, "train") == "running"
    finally:
        other.kill()
        other.wait()
    assert step_state(run, "train") == "interrupted"  # its process is gone: a fresh start may proceed
    open_run(tmp_path / "work", model, config, resume=False)
    assert not (run / "checkpoints" / "susceptibility_last.pt").exists()
