import json

import pytest
from conftest import ROOT, SEED_DATA, compose, run_cli, train_with, write_jsonl

from pipeline.compare import main


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two models cross-validated on the seed corpus, each with its run folder, both scored on a small
    stand-in for the real-news dev set (three written articles) when trained."""
    tmp = tmp_path_factory.mktemp("compare")
    records = [json.loads(line) for line in (ROOT / "data" / "written" / "starter_mixed_topics.jsonl").open()]
    docs = list(dict.fromkeys(r["doc_id"] for r in records))[:3]
    write_jsonl(tmp / "dev.jsonl", [r for r in records if r["doc_id"] in docs])
    dev = f"data.dev_path={tmp / 'dev.jsonl'}"
    train_with(tmp, ["data=seed", "features=char_tfidf", dev], run_name="char", run_dir=tmp / "run_char")
    train_with(tmp, ["data=seed", "model=complement_nb", "features=word_tfidf", dev], run_name="nb",
               run_dir=tmp / "run_nb")
    return tmp


def test_runs_are_compared_on_their_out_of_fold_predictions(two_runs, capsys):
    a, b = two_runs / "run_char", two_runs / "run_nb"
    main([str(a), str(b), "--json", "--resamples", "200"])
    result = json.loads(capsys.readouterr().out)
    expected = [json.loads((run / "metrics.json").read_text())["macro_f1"] for run in (a, b)]
    assert [result["macro_f1"]["a"], result["macro_f1"]["b"]] == pytest.approx(expected)
    assert result["macro_f1"]["difference"] == pytest.approx(expected[0] - expected[1])
    low, high = result["macro_f1"]["interval"]
    assert low <= high
    assert result["macro_f1"]["verdict"] in {"A better", "B better", "no clear difference"}
    assert set(result["per_label_f1"]) == {"threat", "reporting", "editorial_framing", "background_fact"}
    assert result["n_documents"] == 2 and result["n_sentences"] == 55


def test_a_run_compared_with_itself_shows_no_difference(two_runs, capsys):
    run = two_runs / "run_char"
    main([str(run), str(two_runs / "models" / "char")])  # a run folder and the model it saved
    out = capsys.readouterr().out
    assert "| macro F1 |" in out and "[+0.000, +0.000] | no clear difference |" in out
    assert out.rstrip().endswith("Verdict on macro F1: no clear difference")


def test_data_option_scores_both_models_on_one_file(two_runs):
    result = run_cli("compare", two_runs / "models" / "char", two_runs / "run_nb", "--data", SEED_DATA,
                     "--resamples", "100")
    assert result.returncode == 0, result.stderr
    assert "55 sentences in 2 documents" in result.stdout
    assert "Verdict on macro F1: " in result.stdout


def test_runs_on_different_sentences_need_data(two_runs, tmp_path):
    other = tmp_path / "other.jsonl"
    lines = SEED_DATA.read_text(encoding="utf-8").splitlines()
    other.write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
    train_with(tmp_path, [f"data.path={other}", "data=seed"], run_name="small", run_dir=tmp_path / "run_small")
    result = run_cli("compare", two_runs / "run_char", tmp_path / "run_small")
    assert result.returncode == 2
    assert "evaluated on different sentences; give --data FILE" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_folder_that_is_no_run_is_named(tmp_path, two_runs):
    result = run_cli("compare", tmp_path, two_runs / "run_char")
    assert result.returncode == 2
    assert str(tmp_path) in result.stderr and "predictions.jsonl" in result.stderr


def test_real_news_dev_comes_first_when_both_models_were_scored_on_it(two_runs, capsys):
    a, b = two_runs / "run_char", two_runs / "run_nb"
    dev = two_runs / "dev.jsonl"
    expected = [json.loads((run / "metrics.json").read_text())["real_news_dev"]["macro_f1"] for run in (a, b)]
    main([str(a), str(b), "--json", "--resamples", "100"])
    result = json.loads(capsys.readouterr().out)
    real = result["real_news_dev"]
    assert real["data"] == str(dev) and real["n_documents"] == 3
    assert [real["macro_f1"]["a"], real["macro_f1"]["b"]] == pytest.approx(expected)
    assert result["n_sentences"] == 55  # the out-of-fold comparison is still there

    main([str(a), str(b), "--resamples", "100"])
    out = capsys.readouterr().out
    assert out.index(f"## Real news: {dev} (never trained on)") < out.index("## Their own evaluation")
    assert out.index("3 documents") < out.index("2 documents")
    main([str(a), str(b), "--resamples", "100", "--no-dev", "--json"])
    assert "real_news_dev" not in json.loads(capsys.readouterr().out)


def test_runs_on_different_data_are_still_compared_on_the_dev_set(two_runs, tmp_path, capsys):
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(SEED_DATA.read_text(encoding="utf-8").splitlines()[:40]) + "\n", encoding="utf-8")
    train_with(tmp_path, [f"data.path={other}", "data=seed", f"data.dev_path={two_runs / 'dev.jsonl'}"],
               run_name="small", run_dir=tmp_path / "run_small")
    main([str(two_runs / "run_char"), str(tmp_path / "run_small"), "--resamples", "100"])
    out = capsys.readouterr().out
    assert f"## Real news: {two_runs / 'dev.jsonl'} (never trained on)" in out and "| macro F1 |" in out
    assert out.rstrip().endswith("Not compared: the runs were evaluated on different sentences.")
    main([str(two_runs / "run_char"), str(tmp_path / "run_small"), "--resamples", "100", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["real_news_dev"]["n_documents"] == 3 and "macro_f1" not in result


def test_a_dev_set_given_as_a_relative_path_is_the_one_compared_on_from_elsewhere(two_runs, tmp_path, capsys,
                                                                                  monkeypatch):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "dev.jsonl").write_bytes((two_runs / "dev.jsonl").read_bytes())
    monkeypatch.chdir(tmp_path / "train")
    for name, seed in (("a", 1), ("b", 2)):
        train_with(tmp_path, ["data=seed", "features=word_tfidf", "data.dev_path=dev.jsonl", f"seed={seed}"],
                   run_name=name, run_dir=tmp_path / f"run_{name}")
    (tmp_path / "elsewhere").mkdir()  # another dev.jsonl where compare runs: not the one they were scored on
    write_jsonl(tmp_path / "elsewhere" / "dev.jsonl", [json.loads(line) for line in SEED_DATA.open()])
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()  # the trainings' tables
    main([str(tmp_path / "models" / "a"), str(tmp_path / "models" / "b"), "--json", "--resamples", "100"])
    real = json.loads(capsys.readouterr().out)["real_news_dev"]
    assert real["data"] == str(tmp_path / "train" / "dev.jsonl") and real["n_documents"] == 3


def test_a_run_not_scored_on_the_dev_set_is_said_to_be_compared_without_it(two_runs, tmp_path, capsys):
    train_with(tmp_path, ["data=seed", "features=word_tfidf", "data.dev_path=null"], run_name="nodev",
               run_dir=tmp_path / "run_nodev")
    main([str(two_runs / "run_char"), str(tmp_path / "run_nodev"), "--resamples", "50"])
    captured = capsys.readouterr()
    assert (f"not compared on the real-news dev set: {tmp_path / 'run_nodev'} was not scored on it when trained"
            in captured.err)
    assert "## Real news" not in captured.out and "Verdict on macro F1" in captured.out


def test_evaluations_of_the_dev_set_are_its_comparison_with_no_warning(two_runs, tmp_path, capsys):
    from pipeline.common.config import instantiate
    from pipeline.evaluation.saved_model import evaluate

    train_with(tmp_path, ["data=seed", "features=word_tfidf", "data.dev_path=null"], run_name="nodev",
               run_dir=tmp_path / "run_nodev")
    data = instantiate(compose("evaluate", [f"data.path={two_runs / 'dev.jsonl'}"]).data, "data")
    for model, out in [(two_runs / "models" / "char", "eval_char"), (tmp_path / "models" / "nodev", "eval_nodev")]:
        evaluate(model_dir=model, data=data, out_dir=tmp_path / out)
    main([str(tmp_path / "eval_char"), str(tmp_path / "eval_nodev"), "--resamples", "50"])
    captured = capsys.readouterr()
    assert captured.err == ""  # said "not compared on the real-news dev set: ... was not scored on it when trained"
    assert "3 documents" in captured.out and "## Real news" not in captured.out


@pytest.mark.parametrize("command, args", [("compare", ["RUN_A", "RUN_B"]), ("pretrain", ["OUT_DIR"])])
@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_numpy_refuses_is_a_usage_error(command, args, seed):
    result = run_cli(command, *args, "--seed", seed)  # was numpy's ValueError traceback, after the work
    assert result.returncode == 2
    assert result.stderr == (f"error: argument --seed: must be a whole number from 0 to {2**32 - 1}, got {seed} "
                             f"(see python -m pipeline.{command} --help)\n")
