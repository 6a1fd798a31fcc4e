"""Runtime flags, the cluster config file, Slurm job options and GPU assignment."""

import argparse

import pytest

from appion.base.cluster.gpus import split_gpus, worker_environment, worker_gpu_ids
from appion.base.cluster.slurm import slurm_cluster_options
from appion.base.errors import UsageError
from appion.cli.classic_options import add_loop_options
from appion.cli.runtime_options import add_runtime_options, cluster_settings, runtime_settings


def parse(args, tmp_path, monkeypatch):
    monkeypatch.setenv("APPION_HOME", str(tmp_path))
    parser = argparse.ArgumentParser()
    add_loop_options(parser)
    add_runtime_options(parser)
    return parser.parse_args(args)


def test_defaults_are_a_local_cluster_and_classic_order(tmp_path, monkeypatch):
    settings = runtime_settings(parse([], tmp_path, monkeypatch))
    assert settings.cluster.kind == "local" and not settings.cluster.adaptive
    assert settings.policy == "classic" and settings.retries == 3 and settings.wait
    assert settings.give_up_s == 180 * 60
    assert settings.batch_size >= 8


def test_classic_reverse_no_wait_limit_and_mrclist(tmp_path, monkeypatch):
    assert runtime_settings(parse(["--reverse"], tmp_path, monkeypatch)).policy == "reverse"
    for flags in (["--no-wait"], ["--limit", "3"], ["--mrclist", "a,b"]):
        assert not runtime_settings(parse(flags, tmp_path, monkeypatch)).wait
    catchup = runtime_settings(parse(["--policy", "catchup", "--batch-size", "20"],
                                     tmp_path, monkeypatch))
    assert (catchup.policy, catchup.batch_size) == ("catchup", 20)


def test_the_config_file_gives_defaults_and_flags_win(tmp_path, monkeypatch):
    (tmp_path / "cluster.cfg").write_text(
        "[cluster]\ncluster = slurm\nmax-workers = 8\nthreads-per-worker = 2\n"
        "gpus-per-worker = 1\n\n[slurm]\npartition = gpu\naccount = cryoem\n"
        "walltime = 04:00:00\nmemory = 16GB\njob-extra =\n    --constraint=a100\n"
        "prologue =\n    module load cuda/12\n")
    options = parse(["--max-workers", "3", "--slurm-job-extra=--qos=high"],
                    tmp_path, monkeypatch)
    cluster = cluster_settings(options)
    assert (cluster.kind, cluster.min_workers, cluster.max_workers) == ("slurm", 0, 3)
    assert cluster.slurm.partition == "gpu" and cluster.slurm.memory == "16GB"
    assert cluster.slurm.job_extra == ("--constraint=a100", "--qos=high")
    job = slurm_cluster_options(cluster, job_name="appion-run1", log_directory="logs")
    assert job["queue"] == "gpu" and job["account"] == "cryoem" and job["cores"] == 2
    assert job["job_extra_directives"] == ["--constraint=a100", "--qos=high", "--gres=gpu:1"]
    assert job["job_script_prologue"] == [
        "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False", "module load cuda/12"]
    assert job["worker_extra_args"] == ["--resources", "GPU=1"]


def test_an_explicit_config_file_must_exist(tmp_path, monkeypatch):
    options = parse(["--cluster-config", str(tmp_path / "missing.cfg")], tmp_path,
                    monkeypatch)
    with pytest.raises(UsageError, match="cannot read the cluster config"):
        cluster_settings(options)


@pytest.mark.parametrize("flags, message", [
    (["--min-workers", "3", "--max-workers", "2"], "--min-workers 3 is more than"),
    (["--gpu-ids", "0,x"], "--gpu-ids"),
    (["--retries", "-1"], "--retries"),
    (["--task-timeout", "0"], "--task-timeout must be positive"),
])
def test_bad_runtime_flags_are_one_line_errors(flags, message, tmp_path, monkeypatch):
    with pytest.raises(UsageError, match=message):
        runtime_settings(parse(flags, tmp_path, monkeypatch))


def test_one_local_worker_per_gpu(tmp_path, monkeypatch):
    cluster = cluster_settings(parse(["--gpu-ids", "0,1,3"], tmp_path, monkeypatch))
    assert (cluster.max_workers, cluster.gpus_per_worker) == (3, 1)
    assert split_gpus((0, 1, 2, 3, 4), 2) == [(0, 1), (2, 3)]


def test_a_worker_sees_its_own_gpus_from_zero():
    assert worker_gpu_ids(worker_environment((3,))) == (0,)
    assert worker_gpu_ids(worker_environment((2, 5))) == (0, 1)
    assert worker_gpu_ids({"APPION_GPU_IDS": "2,5"}) == (2, 5)
    assert worker_gpu_ids({}) == (0,)
