"""Runs ranked by their metrics: the leaderboard of a sweep.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any, Sequence

from hydra.experimental.callback import Callback

from pipeline.artifacts.names import (
    CARD_FILE,
    HYDRA_CONFIG_FILE,
    HYDRA_FOLDER,
    HYDRA_OVERRIDES_FILE,
    LEADERBOARD_CSV_FILE,
    LEADERBOARD_MARKDOWN_FILE,
    METRICS_FILE,
    MODEL_POINTER_FILE,
    REAL_NEWS_DEV,
)
from pipeline.common.errors import PipelineError, quote
from pipeline.common.spreadsheet import to_cell
from pipeline.evaluation.metrics import real_news_figures

log = logging.getLogger(__name__)
MARKDOWN_FILE, CSV_FILE = LEADERBOARD_MARKDOWN_FILE, LEADERBOARD_CSV_FILE
RANKED_BY = "macro-F1 mean over cross-validation folds (pooled macro-F1 for runs tested on a file)"


DEFAULT_SWEEP_METRIC = "macro_f1_fold_mean"


class MissingMetric(PipelineError):
    """The metric to rank by is not in a run's metrics.json."""


def ranking_score(metrics: dict, metric: str | None = None, option: str = "config sweep_metric") -> float:
    """The number runs are ranked by, and sweepers maximise: `metric` (the config's
    `sweep_metric`: a key of metrics.json, or a dotted path into it such as
    `real_news_dev.macro_f1`). The default, the fold mean, falls back to pooled macro-F1 (runs
    tested on a file have no folds); any other metric missing from a run is an error."""
    value = metrics
    for key in (metric or DEFAULT_SWEEP_METRIC).split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None and (metric or DEFAULT_SWEEP_METRIC) == DEFAULT_SWEEP_METRIC:
        value = metrics["macro_f1"]
    if value is None:
        dev = metrics.get(REAL_NEWS_DEV, {})
        why = (f" (the real-news dev set was not scored: {dev.get('skipped', 'not configured')}"
               f"{', ' + dev['data'] if 'data' in dev else ''})"
               if metric.startswith(REAL_NEWS_DEV + ".") and real_news_figures(metrics) is None else "")
        raise MissingMetric(f"{option}: {quote(metric)} is not in metrics.json{why}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PipelineError(f"{option}: {quote(metric)} is not a number in metrics.json")
    return float(value)


class LeaderboardCallback(Callback):
    """Writes the sweep folder's leaderboard when a multirun ends."""

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            board = write_leaderboard(build_leaderboard([sweep_dir]), sweep_dir)
        except PipelineError as exc:
            log.warning("no leaderboard: %s", exc)
            return
        log.info("leaderboard of %d runs: %s", len(board["rows"]), sweep_dir / MARKDOWN_FILE)
        print(render_markdown(board), end="")


def find_runs(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """Run folders (with metrics.json) among `paths` and the folders below them, at any depth
    (`runs/` holds `train/RUN` and `train-multirun/SWEEP/JOB`); also run folders without one."""
    runs, unfinished, seen = [], [], set()

    def visit(path: Path) -> None:
        if path.resolve() in seen:  # a run named twice, or found again below another PATH: one row
            return
        seen.add(path.resolve())
        if (path / METRICS_FILE).is_file():
            runs.append(path)
            return
        if (path / HYDRA_FOLDER).is_dir():
            unfinished.append(path)
        for child in sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
                            key=_job_order):
            visit(child)

    for path in map(Path, paths):
        if not path.is_dir():
            raise PipelineError(f"{path}: not a folder")
        visit(path)
    if not runs:
        raise PipelineError(f"no run folders with metrics.json in {', '.join(map(str, paths))}")
    return runs, unfinished


def read_run(run_dir: Path) -> dict:
    """One run's row: its overrides, metrics, sweep_metric, model folder and fit time."""
    import yaml

    metrics = _json_object(run_dir / METRICS_FILE)
    per_label = metrics.get("per_label")
    if (not isinstance(metrics.get("macro_f1"), (int, float)) or not isinstance(per_label, dict)
            or not all(isinstance(figures, dict) for figures in per_label.values())):
        # another tool's metrics.json below the folder ranked: its rows would be tracebacks
        raise PipelineError(f"{run_dir / METRICS_FILE}: not the metrics of a pipeline.train or pipeline.evaluate "
                            "run (macro_f1, per_label)")
    overrides_file = run_dir / HYDRA_FOLDER / HYDRA_OVERRIDES_FILE
    overrides = yaml.safe_load(overrides_file.read_text(encoding="utf-8")) if overrides_file.is_file() else []
    config_file = run_dir / HYDRA_FOLDER / HYDRA_CONFIG_FILE
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) if config_file.is_file() else None
    sweep_metric = config.get("sweep_metric") if isinstance(config, dict) else None
    pointer = run_dir / MODEL_POINTER_FILE
    model_dir = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else metrics.get("model", {}).get("path")
    timings = {}
    if model_dir and (Path(model_dir) / CARD_FILE).is_file():
        timings = _json_object(Path(model_dir) / CARD_FILE).get("timings", {})
    return {
        "run_dir": str(run_dir),
        "overrides": [str(o) for o in overrides or []],
        "metrics": metrics,
        "sweep_metric": sweep_metric or DEFAULT_SWEEP_METRIC,
        "model_dir": model_dir,
        "fit_seconds": timings.get("fit_seconds"),
        "evaluate_seconds": timings.get("evaluate_seconds"),
    }


def _json_object(path: Path) -> dict:
    """A run's metrics.json or its model's card; anything else is an error naming the file."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise PipelineError(f"{path}: not a JSON object")
    return value


SWEEP_METRICS = ("macro_f1", "micro_f1", "weighted_f1", "accuracy")
FOLD_METRICS = ("macro_f1_fold_mean", "macro_f1_fold_std")  # cross-validation only, not on the dev set


def check_sweep_metric(metric: str | None, dev_path: str | None, labels) -> None:
    """Before a run: `metric` names a figure metrics.json will hold (a typo found after an hour of
    fine-tuning costs the hour), and one on the real-news dev set needs that set."""
    if not metric:
        return
    on_dev = isinstance(metric, str) and metric.startswith(REAL_NEWS_DEV + ".")
    name = metric.removeprefix(REAL_NEWS_DEV + ".") if isinstance(metric, str) else ""
    label_figure = name.split(".")
    known = (name in SWEEP_METRICS or (name in FOLD_METRICS and not on_dev)
             or (len(label_figure) == 3 and label_figure[0] == "per_label" and label_figure[1] in labels
                 and label_figure[2] in ("precision", "recall", "f1")))
    if not known:
        raise PipelineError(
            f"config sweep_metric: {quote(metric)} is not a figure of metrics.json: one of "
            f"{', '.join(FOLD_METRICS + SWEEP_METRICS)} or per_label.LABEL.f1 (or .precision, .recall), "
            f"and but for the fold ones the same on the real-news dev set after {REAL_NEWS_DEV}.")
    if on_dev and not dev_path:
        raise PipelineError(f"config sweep_metric: {quote(metric)} needs the real-news dev set, and data.dev_path "
                            "is not set")
    if on_dev and not Path(dev_path).is_file():
        raise PipelineError(f"config sweep_metric: {quote(metric)} needs the real-news dev set, not found at "
                            f"{dev_path} (data.dev_path)")


def _score_or_none(metrics: dict, metric: str, option: str) -> float | None:
    try:
        return ranking_score(metrics, metric, option)
    except MissingMetric:
        return None


def build_leaderboard(paths: Sequence[str | Path], metric: str | None = None) -> dict:
    """Rows best first by one metric (`metric`, else the runs' sweep_metric; runs that name different
    ones are ranked on the real-news dev set when any has it), the overrides all runs share, baseline
    rows (when the runs share their evaluation data) and seed-to-seed spread."""
    run_dirs, unfinished = find_runs(paths)
    rows = [read_run(run_dir) for run_dir in run_dirs]
    own = list(dict.fromkeys(row["sweep_metric"] for row in rows))
    with_dev = [row for row in rows if real_news_figures(row["metrics"])]
    same_data = len({_evaluated_on(row["metrics"]) for row in rows}) == 1  # else their own figures don't compare
    if metric or (len(own) == 1 and (same_data or not with_dev)):
        chosen = metric or own[0]
        ranked_by = RANKED_BY if chosen == DEFAULT_SWEEP_METRIC else f"`{chosen}`"
    else:  # one order needs one metric that means the same for every run: the dev set's, when there
        chosen = f"{REAL_NEWS_DEV}.macro_f1" if with_dev else DEFAULT_SWEEP_METRIC
        why = (f"the runs name different sweep_metrics ({', '.join(f'`{m}`' for m in own)})" if len(own) > 1
               else "the runs were evaluated on different data")
        ranked_by = f"{f'`{chosen}`' if with_dev else RANKED_BY}, as {why}; --by picks another"
    option = "--by" if metric else "config sweep_metric"
    for row in rows:
        row["name"] = _run_name(Path(row["run_dir"]), paths)
        row["score"] = _score_or_none(row["metrics"], chosen, option)
    if all(row["score"] is None for row in rows):  # the metric is in no run: say why, as for one run
        ranking_score((with_dev or rows)[0]["metrics"], chosen, option)
    # Best first; runs without the metric last, unranked. Stable: equal scores keep job order.
    rows.sort(key=lambda row: -row["score"] if row["score"] is not None else float("inf"))
    common = [o for o in rows[0]["overrides"] if all(o in row["overrides"] for row in rows)] if len(rows) > 1 else []
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank if row["score"] is not None else "–"
        row["shown_overrides"] = [o for o in row["overrides"] if o not in common]
    labels = list(dict.fromkeys(label for row in rows for label in row["metrics"]["per_label"]))  # runs may differ
    best = rows[0]
    baselines = [
        {"name": name, "summary": summary, "run_dir": best["run_dir"]}
        for name, summary in best["metrics"].get("baselines", {}).items()
    ] if same_data else []
    return {
        "paths": [str(p) for p in paths],
        "ranked_by": ranked_by,
        "baselines_note": "" if same_data else "No baselines: the runs were evaluated on different data "
                                               "(each run's report.md has its own).",
        "dev_data": list(dict.fromkeys(real_news_figures(row["metrics"])["data"] for row in with_dev)),
        "labels": labels,
        "common": common,
        "rows": rows,
        "baselines": baselines,
        "seed_spread": seed_spread(rows),
        "unfinished": [str(p) for p in unfinished],
    }


def seed_spread(rows: list[dict]) -> list[dict]:
    """Runs that differ only in `seed`: mean and std of their scores, when some setting has 2 or more."""
    import numpy as np

    groups: dict[tuple, list[dict]] = {}
    for row in (row for row in rows if row["score"] is not None):
        key = tuple(o for o in row["shown_overrides"] if not o.startswith("seed="))
        groups.setdefault(key, []).append(row)
    if all(len(members) < 2 for members in groups.values()):
        return []
    spread = []
    for key, members in groups.items():
        scores = np.array([m["score"] for m in members])
        dev = [real_news_figures(m["metrics"]) for m in members]
        dev_scores = np.array([d["macro_f1"] for d in dev]) if all(dev) else None
        spread.append({"overrides": list(key), "runs": len(members), "mean": float(scores.mean()),
                       "std": float(scores.std()), "min": float(scores.min()), "max": float(scores.max()),
                       "dev_mean": None if dev_scores is None else float(dev_scores.mean()),
                       "dev_std": None if dev_scores is None else float(dev_scores.std())})
    spread.sort(key=lambda s: -s["mean"])
    return spread


def render_markdown(board: dict) -> str:
    labels = board["labels"]
    dev = bool(board["dev_data"])
    unranked = " Runs without it come last, unranked (–)." if any(r["score"] is None for r in board["rows"]) else ""
    lines = [f"# Leaderboard: {', '.join(board['paths'])}", "",
             f"Ranked by {board['ranked_by']}; best first.{unranked}"]
    if dev:
        lines += ["", f"Real news first: the `dev` columns score each model on {', '.join(board['dev_data'])} "
                  "(never trained on; 95% interval by article); the others are the run's own evaluation "
                  "(cross-validation, or its test file)."]
    if board["common"]:
        lines += ["", "All runs: `" + " ".join(board["common"]) + "`"]
    dev_head = ("dev macro F1 [95% CI] | " + " | ".join(f"dev {label} F1" for label in labels) + " | ") if dev else ""
    lines += [
        "",
        f"| rank | run | overrides | {dev_head}macro F1 folds mean ± std | macro F1 [95% CI] | "
        + " | ".join(f"{label} F1" for label in labels) + " | fit s | model |",
        "|---:|---|---|" + "---:|" * ((len(labels) + 1) * dev) + "---:|---:|" + "---:|" * len(labels) + "---:|---|",
    ]
    for row in board["rows"]:
        m = row["metrics"]
        fit = f"{row['fit_seconds']:.1f}" if row["fit_seconds"] is not None else ""
        lines.append(
            f"| {row['rank']} | {row['name']} | {_code(row['shown_overrides'])} | "
            + (_dev_cells(m, labels) if dev else "")
            + f"{_mean_std(m)} | {_pooled(m)} | "
            + " | ".join(f"{m['per_label'][label]['f1']:.3f}" if label in m["per_label"] else "" for label in labels)
            + f" | {fit} | {_short_path(row['model_dir'])} |"
        )
    for base in board["baselines"]:
        s = base["summary"]
        lines.append(
            f"| – | | baseline: {base['name']} | " + "| " * ((len(labels) + 1) * dev)
            + f"{_mean_std(s)} | {_pooled(s)} | "
            + " | ".join(f"{s['per_label_f1'][label]:.3f}" if "per_label_f1" in s else "" for label in labels)
            + " | | |"
        )
    if board["baselines_note"]:
        lines += ["", board["baselines_note"]]
    if board["seed_spread"]:
        lines += [
            "", "## Across seeds", "",
            f"| overrides (besides seed) | runs | {'dev macro F1 mean ± std | ' * dev}"
            "ranked by: mean ± std | min | max |",
            "|---|---:|" + "---:|" * dev + "---:|---:|---:|",
        ]
        for s in board["seed_spread"]:
            dev_cell = ("" if s["dev_mean"] is None else f"{s['dev_mean']:.3f} ± {s['dev_std']:.3f}") + " | "
            lines.append(f"| {_code(s['overrides']) or 'all runs'} | {s['runs']} | {dev_cell * dev}"
                         f"{s['mean']:.3f} ± {s['std']:.3f} | {s['min']:.3f} | {s['max']:.3f} |")
    if board["unfinished"]:
        lines += ["", f"Runs without metrics.json (failed or unfinished): {', '.join(board['unfinished'])}"]
    return "\n".join(lines) + "\n"


def render_csv(board: dict) -> str:
    labels = board["labels"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def write(cells) -> None:  # overrides such as "+data.extra=..." start like a formula
        writer.writerow([to_cell(cell) for cell in cells])

    write(["rank", "run_dir", "overrides", "dev_macro_f1", "dev_macro_f1_low", "dev_macro_f1_high",
           *[f"dev_f1_{label}" for label in labels], "macro_f1_fold_mean", "macro_f1_fold_std", "macro_f1",
           "macro_f1_low", "macro_f1_high", *[f"f1_{label}" for label in labels], "brier", "ece", "fit_seconds",
           "model_dir"])
    for row in board["rows"]:
        m = row["metrics"]
        low, high = m.get("bootstrap", {}).get("macro_f1", [None, None])
        dev = real_news_figures(m) or {}
        dev_low, dev_high = dev.get("bootstrap", {}).get("macro_f1", [None, None])
        write([
            row["rank"], row["run_dir"], " ".join(row["overrides"]), dev.get("macro_f1"), dev_low, dev_high,
            *[dev.get("per_label", {}).get(label, {}).get("f1") for label in labels], m.get("macro_f1_fold_mean"),
            m.get("macro_f1_fold_std"), m["macro_f1"], low, high,
            *[m["per_label"].get(label, {}).get("f1") for label in labels],
            m.get("calibration", {}).get("brier"), m.get("calibration", {}).get("ece"),
            row["fit_seconds"], row["model_dir"],
        ])
    for base in board["baselines"]:
        s = base["summary"]
        low, high = s.get("macro_f1_interval", [None, None])
        write([
            "baseline", base["run_dir"], f"baseline: {base['name']}", None, None, None, *[None] * len(labels),
            s.get("macro_f1_fold_mean"),
            s.get("macro_f1_fold_std"), s["macro_f1"], low, high,
            *[s.get("per_label_f1", {}).get(label) for label in labels], None, None, None, None,
        ])
    return out.getvalue()


def write_leaderboard(board: dict, folder: str | Path) -> dict:
    """Write leaderboard.md and leaderboard.csv into `folder`, each replaced whole."""
    from pipeline.common import atomic

    folder = Path(folder)
    for name, text in ((MARKDOWN_FILE, render_markdown(board)), (CSV_FILE, render_csv(board))):
        atomic.write_text(folder / name, text)
    return board


def _run_name(run_dir: Path, paths: Sequence[str | Path]) -> str:
    """A run as the table names it: its path below the folder it was found in (a sweep's job number)."""
    for path in map(Path, paths):
        if run_dir != path and run_dir.is_relative_to(path):
            return str(run_dir.relative_to(path))
    return run_dir.name


def _evaluated_on(m: dict) -> tuple:
    """What a run's own evaluation scored: its sentence and document counts and label supports."""
    return m.get("n_sentences"), m.get("n_documents"), tuple(
        (label, row.get("support")) for label, row in m.get("per_label", {}).items())


def _dev_cells(m: dict, labels: list[str]) -> str:
    dev = real_news_figures(m)
    if dev is None:
        return "| " * (len(labels) + 1)
    f1 = [dev.get("per_label", {}).get(label, {}).get("f1") for label in labels]
    return f"{_pooled(dev)} | " + " | ".join("" if v is None else f"{v:.3f}" for v in f1) + " | "


def _mean_std(m: dict) -> str:
    if "macro_f1_fold_mean" not in m:
        return ""
    return f"{m['macro_f1_fold_mean']:.3f} ± {m['macro_f1_fold_std']:.3f}"


def _pooled(m: dict) -> str:
    pair = m.get("bootstrap", {}).get("macro_f1") or m.get("macro_f1_interval")
    return f"{m['macro_f1']:.3f}" + (f" [{pair[0]:.3f}, {pair[1]:.3f}]" if pair else "")


def _code(overrides: list[str]) -> str:
    return "`" + " ".join(overrides).replace("|", "\\|") + "`" if overrides else ""


def _short_path(path: str | None) -> str:
    """Relative to the current folder when inside it, else as given."""
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def _job_order(path: Path):
    return (0, int(path.name), "") if path.name.isdigit() else (1, 0, path.name)
