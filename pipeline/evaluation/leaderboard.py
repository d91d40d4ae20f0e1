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
)
from pipeline.common.errors import PipelineError, quote

log = logging.getLogger(__name__)
MARKDOWN_FILE, CSV_FILE = LEADERBOARD_MARKDOWN_FILE, LEADERBOARD_CSV_FILE
RANKED_BY = "macro-F1 mean over cross-validation folds (pooled macro-F1 for runs tested on a file)"


DEFAULT_SWEEP_METRIC = "macro_f1_fold_mean"


def ranking_score(metrics: dict, metric: str | None = None) -> float:
    """The number runs are ranked by, and sweepers maximise: `metric` (the config's
    `sweep_metric`, a key of metrics.json), or macro-F1 where a run has no such key (the fold
    mean does not exist for runs tested on a file)."""
    value = metrics.get(metric or DEFAULT_SWEEP_METRIC)
    if value is None:
        value = metrics["macro_f1"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PipelineError(f"config sweep_metric: {quote(metric)} is not a number in metrics.json")
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
    """Run folders (with metrics.json) among `paths` and their subfolders; also those without one."""
    runs, unfinished = [], []
    for path in map(Path, paths):
        if not path.is_dir():
            raise PipelineError(f"{path}: not a folder")
        if (path / METRICS_FILE).is_file():
            runs.append(path)
            continue
        children = sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_job_order)
        for child in children:
            if (child / METRICS_FILE).is_file():
                runs.append(child)
            elif (child / HYDRA_FOLDER).is_dir():
                unfinished.append(child)
    if not runs:
        raise PipelineError(f"no run folders with metrics.json in {', '.join(map(str, paths))}")
    return runs, unfinished


def read_run(run_dir: Path) -> dict:
    """One run's row: its overrides, metrics, model folder and fit time."""
    import yaml

    metrics_file = run_dir / METRICS_FILE
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{metrics_file}: not valid JSON ({exc})") from None
    overrides_file = run_dir / HYDRA_FOLDER / HYDRA_OVERRIDES_FILE
    overrides = yaml.safe_load(overrides_file.read_text(encoding="utf-8")) if overrides_file.is_file() else []
    config_file = run_dir / HYDRA_FOLDER / HYDRA_CONFIG_FILE
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) if config_file.is_file() else None
    sweep_metric = config.get("sweep_metric") if isinstance(config, dict) else None
    pointer = run_dir / MODEL_POINTER_FILE
    model_dir = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else metrics.get("model", {}).get("path")
    timings = {}
    if model_dir and (Path(model_dir) / CARD_FILE).is_file():
        card = json.loads((Path(model_dir) / CARD_FILE).read_text(encoding="utf-8"))
        timings = card.get("timings", {})
    return {
        "run_dir": str(run_dir),
        "overrides": [str(o) for o in overrides or []],
        "metrics": metrics,
        "score": ranking_score(metrics, sweep_metric),
        "model_dir": model_dir,
        "fit_seconds": timings.get("fit_seconds"),
        "evaluate_seconds": timings.get("evaluate_seconds"),
    }


def build_leaderboard(paths: Sequence[str | Path]) -> dict:
    """Rows best first, the overrides all runs share, baseline rows and seed-to-seed spread."""
    run_dirs, unfinished = find_runs(paths)
    rows = [read_run(run_dir) for run_dir in run_dirs]
    rows.sort(key=lambda row: -row["score"])  # stable: equal scores keep job order
    common = [o for o in rows[0]["overrides"] if all(o in row["overrides"] for row in rows)] if len(rows) > 1 else []
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["shown_overrides"] = [o for o in row["overrides"] if o not in common]
    labels = list(rows[0]["metrics"]["per_label"])
    best = rows[0]
    baselines = [
        {"name": name, "summary": summary, "run_dir": best["run_dir"]}
        for name, summary in best["metrics"].get("baselines", {}).items()
    ]
    return {
        "paths": [str(p) for p in paths],
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
    for row in rows:
        key = tuple(o for o in row["shown_overrides"] if not o.startswith("seed="))
        groups.setdefault(key, []).append(row)
    if all(len(members) < 2 for members in groups.values()):
        return []
    spread = []
    for key, members in groups.items():
        scores = np.array([m["score"] for m in members])
        spread.append({"overrides": list(key), "runs": len(members), "mean": float(scores.mean()),
                       "std": float(scores.std()), "min": float(scores.min()), "max": float(scores.max())})
    spread.sort(key=lambda s: -s["mean"])
    return spread


def render_markdown(board: dict) -> str:
    labels = board["labels"]
    lines = [f"# Leaderboard: {', '.join(board['paths'])}", "", f"Ranked by {RANKED_BY}; best first."]
    if board["common"]:
        lines += ["", "All runs: `" + " ".join(board["common"]) + "`"]
    lines += [
        "",
        "| rank | run | overrides | macro F1 folds mean ± std | macro F1 [95% CI] | "
        + " | ".join(f"{label} F1" for label in labels) + " | fit s | model |",
        "|---:|---|---|---:|---:|" + "---:|" * len(labels) + "---:|---|",
    ]
    for row in board["rows"]:
        m = row["metrics"]
        fit = f"{row['fit_seconds']:.1f}" if row["fit_seconds"] is not None else ""
        lines.append(
            f"| {row['rank']} | {Path(row['run_dir']).name} | {_code(row['shown_overrides'])} | "
            f"{_mean_std(m)} | {_pooled(m)} | "
            + " | ".join(f"{m['per_label'][label]['f1']:.3f}" for label in labels)
            + f" | {fit} | {_short_path(row['model_dir'])} |"
        )
    for base in board["baselines"]:
        s = base["summary"]
        lines.append(
            f"| – | | baseline: {base['name']} | {_mean_std(s)} | {_pooled(s)} | "
            + " | ".join(f"{s['per_label_f1'][label]:.3f}" if "per_label_f1" in s else "" for label in labels)
            + " | | |"
        )
    if board["seed_spread"]:
        lines += [
            "", "## Across seeds", "",
            "| overrides (besides seed) | runs | macro F1 mean ± std | min | max |",
            "|---|---:|---:|---:|---:|",
        ]
        for s in board["seed_spread"]:
            lines.append(f"| {_code(s['overrides']) or 'all runs'} | {s['runs']} | {s['mean']:.3f} ± {s['std']:.3f} "
                         f"| {s['min']:.3f} | {s['max']:.3f} |")
    if board["unfinished"]:
        lines += ["", f"Runs without metrics.json (failed or unfinished): {', '.join(board['unfinished'])}"]
    return "\n".join(lines) + "\n"


def render_csv(board: dict) -> str:
    labels = board["labels"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "run_dir", "overrides", "macro_f1_fold_mean", "macro_f1_fold_std", "macro_f1",
                     "macro_f1_low", "macro_f1_high", *[f"f1_{label}" for label in labels], "brier", "ece",
                     "fit_seconds", "model_dir"])
    for row in board["rows"]:
        m = row["metrics"]
        low, high = m.get("bootstrap", {}).get("macro_f1", [None, None])
        writer.writerow([
            row["rank"], row["run_dir"], " ".join(row["overrides"]), m.get("macro_f1_fold_mean"),
            m.get("macro_f1_fold_std"), m["macro_f1"], low, high,
            *[m["per_label"][label]["f1"] for label in labels],
            m.get("calibration", {}).get("brier"), m.get("calibration", {}).get("ece"),
            row["fit_seconds"], row["model_dir"],
        ])
    for base in board["baselines"]:
        s = base["summary"]
        low, high = s.get("macro_f1_interval", [None, None])
        writer.writerow([
            "baseline", base["run_dir"], f"baseline: {base['name']}", s.get("macro_f1_fold_mean"),
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
