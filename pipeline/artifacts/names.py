"""Names of the files and folders a run and a saved model consist of.
"""

from __future__ import annotations

MODEL_FILE = "model.joblib"
SKOPS_FILE = "model.skops"
CARD_FILE = "model.json"
LATEST = "latest"
PREDICTIONS_FILE = "predictions.jsonl"
MODEL_POINTER_FILE = "model_dir.txt"  # in a run folder: where its model was saved
METRICS_FILE = "metrics.json"
REAL_NEWS_DEV = "real_news_dev"  # the metrics.json key of the real-news yardstick's figures
REPORT_FILE = "report.md"
HTML_REPORT_FILE = "report.html"
CONFUSION_FILE = "confusion_matrix.png"
RELIABILITY_FILE = "reliability.png"
LEADERBOARD_MARKDOWN_FILE = "leaderboard.md"
LEADERBOARD_CSV_FILE = "leaderboard.csv"
HYDRA_FOLDER = ".hydra"  # Hydra's record of a run: config.yaml, overrides.yaml
HYDRA_CONFIG_FILE = "config.yaml"
HYDRA_OVERRIDES_FILE = "overrides.yaml"
# All Hydra writes for a job besides its log: a run folder holding only these ran nothing.
HYDRA_FILES = frozenset({HYDRA_CONFIG_FILE, "hydra.yaml", HYDRA_OVERRIDES_FILE})
MULTIRUN_FILE = "multirun.yaml"  # Hydra's record of a sweep, in its folder
MODELS_FOLDER = "models"
