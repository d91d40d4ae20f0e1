import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from pipeline.common.errors import PipelineError
from pipeline.evaluation.leaderboard import (
    build_leaderboard,
    ranking_score,
    render_csv,
    render_markdown,
)
from pipeline.leaderboard import main

LABELS = ["threat", "reporting"]


def fake_run(folder: Path, overrides: list[str], fold_mean: float, fit_seconds: float | None = 1.5,
             dev: float | None = None, sentences: int = 55, sweep_metric: str | None = None) -> Path:
    """A run folder as pipeline.train leaves it, with only the files the leaderboard reads (and the
    real-news dev figures when `dev` is its macro-F1)."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if sweep_metric:
        (folder / ".hydra" / "config.yaml").write_text(f"sweep_metric: {sweep_metric}\n")
    metrics = {
        "n_sentences": sentences,
        "per_label": {label: {"f1": fold_mean + i / 100} for i, label in enumerate(LABELS)},
        "macro_f1": fold_mean + 0.01,
        "macro_f1_fold_mean": fold_mean,
        "macro_f1_fold_std": 0.02,
        "bootstrap": {"macro_f1": [fold_mean - 0.1, fold_mean + 0.1]},
        "baselines": {"majority class": {"macro_f1": 0.2, "macro_f1_interval": [0.1, 0.3], "accuracy": 0.4,
                                         "per_label_f1": {"threat": 0.4, "reporting": 0.0},
                                         "macro_f1_fold_mean": 0.2, "macro_f1_fold_std": 0.01}},
    }
    if dev is not None:
        metrics["real_news_dev"] = {
            "data": "ptc/dev.jsonl", "macro_f1": dev, "bootstrap": {"macro_f1": [dev - 0.05, dev + 0.05]},
            "per_label": {label: {"f1": dev - (i + 1) / 10} for i, label in enumerate(LABELS)},
        }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if fit_seconds is not None:
        model = folder.parent / f"model-{folder.name}"
        model.mkdir()
        (model / "model.json").write_text(json.dumps({"timings": {"fit_seconds": fit_seconds}}))
        (folder / "model_dir.txt").write_text(f"{model}\n")
    return folder


def test_rows_are_ranked_best_first_with_shared_overrides_set_apart(tmp_path):
    fake_run(tmp_path / "0", ["data=seed", "model=logreg"], 0.6)
    fake_run(tmp_path / "1", ["data=seed", "model=linear_svc"], 0.7, fit_seconds=2.25)
    fake_run(tmp_path / "2", ["data=seed", "model=sgd"], 0.5, fit_seconds=None)
    (tmp_path / "3" / ".hydra").mkdir(parents=True)  # a job that died before writing metrics

    board = build_leaderboard([tmp_path])
    assert [Path(r["run_dir"]).name for r in board["rows"]] == ["1", "0", "2"]
    assert board["common"] == ["data=seed"]
    assert board["unfinished"] == [str(tmp_path / "3")]
    assert board["seed_spread"] == []

    markdown = render_markdown(board)
    assert "All runs: `data=seed`" in markdown
    assert "| 1 | 1 | `model=linear_svc` | 0.700 ± 0.020 | 0.710 [0.600, 0.800] | 0.700 | 0.710 | 2.2" in markdown
    assert "baseline: majority class | 0.200 ± 0.010 | 0.200 [0.100, 0.300]" in markdown
    assert "failed or unfinished" in markdown

    rows = list(csv.DictReader(io.StringIO(render_csv(board))))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "baseline"]
    assert rows[0]["overrides"] == "data=seed model=linear_svc"
    assert float(rows[0]["fit_seconds"]) == 2.25 and rows[0]["model_dir"].endswith("model-1")
    assert rows[2]["fit_seconds"] == "" and float(rows[0]["f1_reporting"]) == pytest.approx(0.71)


def test_an_override_that_starts_like_a_formula_is_text_in_the_csv(tmp_path):
    fake_run(tmp_path / "0", ["+data.extra=x", "model=sgd"], 0.6)  # a spreadsheet ran "+data..." as a formula
    rows = list(csv.DictReader(io.StringIO(render_csv(build_leaderboard([tmp_path])))))
    assert rows[0]["overrides"] == "'+data.extra=x model=sgd"


def test_runs_that_differ_only_in_seed_get_their_spread(tmp_path):
    for job, (seed, score) in enumerate([(1, 0.6), (2, 0.7), (3, 0.8)]):
        fake_run(tmp_path / str(job), ["model=logreg", f"seed={seed}"], score)
    fake_run(tmp_path / "3", ["model=sgd", "seed=1"], 0.5)
    spread = build_leaderboard([tmp_path])["seed_spread"]
    assert spread[0]["overrides"] == ["model=logreg"] and spread[0]["runs"] == 3
    assert spread[0]["mean"] == pytest.approx(0.7) and spread[0]["std"] == pytest.approx((2 / 300) ** 0.5)
    assert (spread[0]["min"], spread[0]["max"]) == (0.6, 0.8)
    assert spread[0]["dev_mean"] is None  # no dev figures in these runs


def test_the_spread_across_seeds_shows_the_dev_set_first(tmp_path):
    for job, (seed, score, dev) in enumerate([(1, 0.6, 0.50), (2, 0.7, 0.54)]):
        fake_run(tmp_path / str(job), ["model=logreg", f"seed={seed}"], score, dev=dev)
    board = build_leaderboard([tmp_path])
    assert board["seed_spread"][0]["dev_mean"] == pytest.approx(0.52)
    markdown = render_markdown(board)
    assert "| overrides (besides seed) | runs | dev macro F1 mean ± std | ranked by: mean ± std |" in markdown
    assert "| all runs | 2 | 0.520 ± 0.020 | 0.650 ± 0.050 | 0.600 | 0.700 |" in markdown


def test_cli_prints_for_run_folders_and_writes_into_a_sweep_folder(tmp_path, capsys):
    fake_run(tmp_path / "sweep" / "0", ["model=logreg"], 0.6)
    fake_run(tmp_path / "sweep" / "1", ["model=sgd"], 0.65)
    main([str(tmp_path / "sweep" / "0"), str(tmp_path / "sweep" / "1")])
    assert "`model=sgd`" in capsys.readouterr().out
    assert not (tmp_path / "sweep" / "leaderboard.md").exists()
    main([str(tmp_path / "sweep")])
    printed = capsys.readouterr().out
    assert (tmp_path / "sweep" / "leaderboard.md").read_text() == printed
    assert (tmp_path / "sweep" / "leaderboard.csv").is_file()


def test_a_folder_without_runs_is_refused(tmp_path):
    with pytest.raises(PipelineError, match="no run folders with metrics.json"):
        build_leaderboard([tmp_path])
    result = run_cli("leaderboard", tmp_path / "missing")
    assert result.returncode == 2 and result.stderr == f"error: {tmp_path / 'missing'}: not a folder\n"


@pytest.mark.parametrize("args", [[], ["runs", "--bogus"]])
def test_a_usage_mistake_is_one_error_line(args):
    result = run_cli("leaderboard", *args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "(see python -m pipeline.leaderboard --help)" in result.stderr


@pytest.fixture(scope="module")
def two_parallel_sweeps(tmp_path_factory):
    """Two 2-job multiruns with the joblib launcher, started at the same moment into one runs folder."""
    tmp = tmp_path_factory.mktemp("sweeps")
    args = [sys.executable, "-m", "pipeline.train", "-m", "data=seed", "features=word_tfidf",
            "model=complement_nb,logreg", "hydra/launcher=joblib",
            f"paths.runs_dir={tmp / 'runs'}", f"paths.models_dir={tmp / 'models'}"]
    env = dict(os.environ)
    procs = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    return tmp, [out for out, _ in outputs]


@pytest.mark.slow
def test_parallel_sweeps_never_share_a_folder(two_parallel_sweeps):
    tmp, _ = two_parallel_sweeps
    sweeps = sorted((tmp / "runs" / "train-multirun").iterdir())
    assert len(sweeps) == 2
    for sweep in sweeps:
        assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    pointers = [(sweep / job / "model_dir.txt").read_text().strip() for sweep in sweeps for job in ("0", "1")]
    assert len(set(pointers)) == 4
    assert all((Path(p) / "model.joblib").is_file() for p in pointers)
    assert len([p for p in (tmp / "models").iterdir() if not p.name.startswith((".", "latest"))]) == 4


@pytest.mark.slow
def test_multirun_ends_with_a_leaderboard(two_parallel_sweeps):
    tmp, stdouts = two_parallel_sweeps
    for sweep in sorted((tmp / "runs" / "train-multirun").iterdir()):
        # Two sweeps started in the same second sort by their random suffix: match by the printed path.
        [stdout] = [out for out in stdouts if f"# Leaderboard: {sweep}\n" in out]
        rows = list(csv.DictReader((sweep / "leaderboard.csv").open()))
        assert [r["rank"] for r in rows] == ["1", "2", "baseline", "baseline"]
        assert {r["overrides"].split()[2] for r in rows[:2]} == {"model=complement_nb", "model=logreg"}
        scores = [json.loads((Path(r["run_dir"]) / "metrics.json").read_text())["macro_f1_fold_mean"] for r in rows[:2]]
        assert scores == sorted(scores, reverse=True)
        assert [float(r["macro_f1_fold_mean"]) for r in rows[:2]] == scores
        assert all(float(r["fit_seconds"]) >= 0 and Path(r["model_dir"]).is_dir() for r in rows[:2])
        markdown = (sweep / "leaderboard.md").read_text()
        assert "baseline: majority class" in markdown and "`model=logreg`" in markdown
        assert markdown in stdout

        rebuilt = run_cli("leaderboard", sweep)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert rebuilt.stdout == markdown


def test_a_sweep_job_with_a_bad_value_says_the_sweep_stopped_and_what_it_kept(tmp_path):
    result = run_cli("train", "-m", "data=seed", "features=word_tfidf", "features.min_df=1,1000,2",  # met in fitting
                     f"paths.runs_dir={tmp_path / 'runs'}", f"paths.models_dir={tmp_path / 'models'}")
    [sweep] = (tmp_path / "runs" / "train-multirun").iterdir()
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    # It said the job's error alone: the job before it kept, the one after it never run, no leaderboard.
    assert result.stderr.startswith("error: config features.min_df=1000, features.max_df=1.0: no term is left ")
    assert result.stderr.endswith(f"; sweep job 1 failed, so the sweep stopped: the sweep's finished jobs keep "
                                  "their run folders and models, and a stopped job saved its whole model or none; "
                                  f"no leaderboard was written (python -m pipeline.leaderboard {sweep} makes one)\n")
    assert (sweep / "0" / "model_dir.txt").is_file() and not (sweep / "2").exists()


def test_real_news_dev_figures_come_first_and_can_rank_the_runs(tmp_path, capsys):
    fake_run(tmp_path / "0", ["model=logreg"], 0.85, dev=0.60)
    fake_run(tmp_path / "1", ["model=sgd"], 0.80, dev=0.70)
    fake_run(tmp_path / "2", ["model=complement_nb"], 0.90)  # trained where the dev set was absent

    board = build_leaderboard([tmp_path])  # by the runs' own sweep_metric: the fold mean
    assert [Path(r["run_dir"]).name for r in board["rows"]] == ["2", "0", "1"]
    markdown = render_markdown(board)
    assert "the `dev` columns score each model on ptc/dev.jsonl" in markdown
    assert ("| rank | run | overrides | dev macro F1 [95% CI] | dev threat F1 | dev reporting F1 | "
            "macro F1 folds") in markdown
    assert "| 2 | 0 | `model=logreg` | 0.600 [0.550, 0.650] | 0.500 | 0.400 | 0.850 ± 0.020 |" in markdown
    assert "| 1 | 2 | `model=complement_nb` | | | | 0.900 ± 0.020 |" in markdown
    rows = list(csv.DictReader(io.StringIO(render_csv(board))))
    assert [r["dev_macro_f1"] for r in rows] == ["", "0.6", "0.7", ""]
    assert float(rows[1]["dev_macro_f1_low"]) == pytest.approx(0.55) and float(rows[1]["dev_f1_threat"]) == 0.5

    main([str(tmp_path), "--by", "real_news_dev.macro_f1", "--no-write"])
    printed = capsys.readouterr().out
    assert "Ranked by `real_news_dev.macro_f1`; best first. Runs without it come last, unranked (–)." in printed
    ranked = [line.split(" | ")[:2] for line in printed.splitlines() if line.startswith("| ") and "`model=" in line]
    assert ranked == [["| 1", "1"], ["| 2", "0"], ["| –", "2"]]
    main([str(tmp_path), "--by", "real_news_dev.per_label.reporting.f1", "--no-write"])
    assert "| 1 | 1 | `model=sgd` | 0.700" in capsys.readouterr().out


def test_a_metric_no_run_has_is_refused_not_replaced(tmp_path):
    fake_run(tmp_path / "0", ["model=logreg"], 0.85)
    result = run_cli("leaderboard", tmp_path, "--by", "acuracy")
    assert result.returncode == 2 and result.stderr == "error: --by: 'acuracy' is not in metrics.json\n"
    with pytest.raises(PipelineError, match=r"sweep_metric: 'real_news_dev.macro_f1' is not in metrics.json "
                                            r"\(the real-news dev set was not scored: not configured\)"):
        ranking_score(json.loads((tmp_path / "0" / "metrics.json").read_text()), "real_news_dev.macro_f1")
    assert ranking_score({"macro_f1": 0.7}) == 0.7  # the default fold mean falls back to pooled macro-F1


def test_a_folder_of_runs_at_any_depth_is_ranked_without_writing_into_it(tmp_path, capsys):
    runs = tmp_path / "runs"
    fake_run(runs / "train" / "2026-12-01_10-00-00_ab", ["model=logreg"], 0.6)
    fake_run(runs / "train-multirun" / "2026-12-01_11-00-00_cd" / "0", ["model=sgd"], 0.7)
    (runs / "train" / "2026-12-01_12-00-00_ef" / ".hydra").mkdir(parents=True)  # stopped before metrics
    main([str(runs)])
    printed = capsys.readouterr().out
    assert "| 1 | train-multirun/2026-12-01_11-00-00_cd/0 | `model=sgd` |" in printed
    assert "| 2 | train/2026-12-01_10-00-00_ab | `model=logreg` |" in printed
    assert f"failed or unfinished): {runs / 'train' / '2026-12-01_12-00-00_ef'}" in printed
    assert sorted(p.name for p in runs.iterdir()) == ["train", "train-multirun"]


@pytest.mark.parametrize("metric", ["macro_f2", "real_news_dev.macro_f", "real_news_dev.macro_f1_fold_mean",
                                    "per_label.thret.f1"])
def test_a_sweep_metric_no_run_would_have_stops_before_training(tmp_path, metric):
    from pipeline.evaluation.leaderboard import check_sweep_metric

    labels = ["threat", "reporting"]
    with pytest.raises(PipelineError, match=f"config sweep_metric: '{metric}' is not a figure of metrics.json"):
        check_sweep_metric(metric, None, labels)
    for fine in ("macro_f1_fold_mean", "accuracy", "per_label.threat.f1", "real_news_dev.per_label.reporting.recall"):
        check_sweep_metric(fine, __file__, labels)


def test_a_sweep_metric_on_the_dev_set_without_it_stops_before_training(tmp_path):
    models = tmp_path / "models"
    # The configured dev set absent (a dev_path typed on the command line must exist: its own error)
    result = run_cli("train", "data=seed", "features=word_tfidf", "sweep_metric=real_news_dev.macro_f1",
                     "data.dev_path=${paths.ptc_dev}", f"paths.ptc_dev={tmp_path / 'absent.jsonl'}",
                     f"paths.models_dir={models}",
                     f"paths.runs_dir={tmp_path / 'runs'}")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "error: config sweep_metric: 'real_news_dev.macro_f1' needs the real-news dev set, not found at "
        f"{tmp_path / 'absent.jsonl'} (data.dev_path)")
    assert not models.exists() or not any(models.iterdir())
    result = run_cli("train", "data=seed", "features=word_tfidf", "sweep_metric=macro_f2",
                     f"paths.models_dir={models}", f"paths.runs_dir={tmp_path / 'runs'}")
    assert result.returncode != 0 and "error: config sweep_metric: 'macro_f2' is not a figure" in result.stderr
    assert not models.exists() or not any(models.iterdir())


def test_runs_on_different_data_or_metrics_are_ranked_on_the_dev_set(tmp_path):
    fake_run(tmp_path / "a" / "0", ["data=seed"], 0.90, dev=0.50, sentences=55)
    fake_run(tmp_path / "b" / "0", ["data=default"], 0.80, dev=0.60, sentences=11550)
    board = build_leaderboard([tmp_path])
    assert [r["name"] for r in board["rows"]] == ["b/0", "a/0"]
    markdown = render_markdown(board)
    assert "Ranked by `real_news_dev.macro_f1`, as the runs were evaluated on different data" in markdown
    assert "baseline:" not in markdown and "No baselines: the runs were evaluated on different data" in markdown
    assert [r["name"] for r in build_leaderboard([tmp_path], "macro_f1_fold_mean")["rows"]] == ["a/0", "b/0"]

    fake_run(tmp_path / "c" / "0", ["model=logreg"], 0.9, dev=0.4, sweep_metric="accuracy")
    fake_run(tmp_path / "c" / "1", ["model=sgd"], 0.7, dev=0.5)
    board = build_leaderboard([tmp_path / "c"])
    assert [r["name"] for r in board["rows"]] == ["1", "0"]
    assert "the runs name different sweep_metrics (`accuracy`, `macro_f1_fold_mean`)" in board["ranked_by"]


def test_runs_with_different_label_sets_get_a_column_per_label_any_run_has(tmp_path):
    fake_run(tmp_path / "four", ["data=default"], 0.8)
    three = fake_run(tmp_path / "three", ["data=newsdiscourse"], 0.6)
    metrics = json.loads((three / "metrics.json").read_text())
    metrics["per_label"] = {"reporting": {"f1": 0.6}, "background_fact": {"f1": 0.7}}
    (three / "metrics.json").write_text(json.dumps(metrics))
    board = build_leaderboard([tmp_path])  # the best run has a label the other lacks: a KeyError traceback
    assert board["labels"] == ["threat", "reporting", "background_fact"]
    markdown = render_markdown(board)
    assert "| `data=default` | 0.800 ± 0.020 | 0.810 [0.700, 0.900] | 0.800 | 0.810 |  |" in markdown
    assert "| `data=newsdiscourse` | 0.600 ± 0.020 | 0.610 [0.500, 0.700] |  | 0.600 | 0.700 |" in markdown
    rows = list(csv.DictReader(io.StringIO(render_csv(board))))
    assert [rows[0]["f1_background_fact"], rows[1]["f1_threat"], rows[1]["f1_background_fact"]] == ["", "", "0.7"]


def test_a_broken_model_card_or_metrics_file_is_one_error_line_naming_it(tmp_path):
    run = fake_run(tmp_path / "sweep" / "0", ["model=logreg"], 0.6)
    card = tmp_path / "sweep" / "model-0" / "model.json"
    card.write_text('{"timings": {"fit_sec')  # was json's JSONDecodeError traceback
    result = run_cli("leaderboard", tmp_path / "sweep", "--no-write")
    assert result.returncode == 2 and result.stderr.startswith(f"error: {card}: not valid JSON (")
    assert result.stderr.count("\n") == 1
    card.write_text("{}")
    (run / "metrics.json").write_text("[]")  # was AttributeError: 'list' object has no attribute 'get'
    result = run_cli("leaderboard", tmp_path / "sweep", "--no-write")
    assert result.returncode == 2 and result.stderr == f"error: {run / 'metrics.json'}: not a JSON object\n"
    for other in ({}, {"macro_f1": 0.5}, {"macro_f1": 0.5, "per_label": {"threat": 0.5}}):  # were tracebacks
        (run / "metrics.json").write_text(json.dumps(other))
        result = run_cli("leaderboard", tmp_path / "sweep", "--no-write")
        assert result.returncode == 2 and result.stderr == (
            f"error: {run / 'metrics.json'}: not the metrics of a pipeline.train or pipeline.evaluate run "
            "(macro_f1, per_label)\n")


def test_a_run_named_twice_or_found_below_two_paths_is_one_row(tmp_path):
    fake_run(tmp_path / "sweep" / "0", ["model=logreg"], 0.6)
    fake_run(tmp_path / "sweep" / "1", ["model=sgd"], 0.5)
    for paths in ([tmp_path / "sweep" / "0", tmp_path / "sweep" / "0"], [tmp_path, tmp_path / "sweep"]):
        board = build_leaderboard(paths)  # each run was listed once per path that holds it
        assert [row["rank"] for row in board["rows"]] == [1, 2][:len(board["rows"])]
        assert len({row["run_dir"] for row in board["rows"]}) == len(board["rows"])
    assert [r["name"] for r in build_leaderboard([tmp_path, tmp_path / "sweep"])["rows"]] == ["sweep/0", "sweep/1"]
