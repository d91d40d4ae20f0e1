import json

import pytest
from conftest import ROOT, run_cli

from pipeline.annotation.audit import audit
from pipeline.common.config import compose_config
from pipeline.training.setup import build_run

WRITTEN = ROOT / "data" / "written" / "starter_mixed_topics.jsonl"
# Fast options of the training config; the audit itself is the same for every model.
FAST = ["model=sgd", "features=word_tfidf"]


def audit_with(overrides):
    run = build_run(compose_config("train", overrides))
    return audit(estimator=run.estimator, data=run.data, splitter=run.splitter)


@pytest.mark.slow
def test_deliberately_flipped_labels_rank_near_the_top(tmp_path):
    rows = [json.loads(line) for line in WRITTEN.read_text(encoding="utf-8").splitlines()]
    flips = {3: "background_fact", 18: "reporting"}  # two plain threats ("our missiles do not need...")
    for line, label in flips.items():
        assert rows[line - 1]["label"] == "threat"
        rows[line - 1]["label"] = label
    data = tmp_path / "flipped.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    ranked, summary = audit_with([f"data.path={data}", *FAST])
    assert summary["n_sentences"] == len(rows) == len(ranked)
    assert [r["p_label"] for r in ranked] == sorted(r["p_label"] for r in ranked)
    top = {(r["row"], r["label"]) for r in ranked[:5]}
    assert set(flips.items()) <= top, ranked[:5]
    for r in ranked[:5]:
        if r["row"] in flips:
            assert r["predicted"] == "threat" and r["doc_id"] == rows[r["row"] - 1]["doc_id"]


@pytest.mark.slow
def test_cli_lists_n_sentences_as_jsonl(tmp_path):
    result = run_cli("audit", "data=seed", *FAST, "-n", "3", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert {"file", "row", "doc_id", "text", "label", "p_label", "predicted", "p_predicted"} <= set(records[0])
    assert "2-fold cross-validation grouped by document" in result.stderr
    assert "55 sentences in 2 documents" in result.stderr
    assert "not a probability" not in result.stderr
    svc = run_cli("audit", "data=seed", *FAST, "model=linear_svc", "-n", "1", "--format", "jsonl")
    assert "p(label) is a softmax of the model's decision scores, not a probability" in svc.stderr, svc.stderr

    out = tmp_path / "review.jsonl"
    out.write_text("keep me\n")
    refused = run_cli("audit", "data=seed", *FAST, "-o", out)
    assert refused.returncode == 2 and "already exists" in refused.stderr
    assert out.read_text() == "keep me\n"


@pytest.mark.parametrize("args, message", [
    (["model=forest"], "Could not find 'model/forest'"),
    (["data.path=/no/such.jsonl"], "data.path: file not found: /no/such.jsonl"),
    (["data=seed", "-n", "0"], "argument -n/--top: must be at least 1, got 0"),
])
def test_bad_input_exits_2_with_one_error_line(args, message):
    result = run_cli("audit", *args)
    assert result.returncode == 2
    assert message in result.stderr.splitlines()[-1] and "Traceback" not in result.stderr, result.stderr


def test_audit_uses_the_calibration_the_config_names():
    from sklearn.calibration import CalibratedClassifierCV

    run = build_run(compose_config("train", [*FAST, "calibration=sigmoid"]))
    assert isinstance(run.estimator, CalibratedClassifierCV) or isinstance(run.estimator[-1], CalibratedClassifierCV)
