"""Scoring large inputs: batches, resume, processes, Dask, Parquet; training out of core."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, SEED_DATA, run_cli, stop_after_writes, write_jsonl

from pipeline.score import main
from pipeline.scoring import resumable, run as scoring_run
from pipeline.scoring.resumable import FileOutput

SEEDS = ROOT / "seeds"


@pytest.fixture(scope="module")
def sentences(tmp_path_factory):
    """A JSONL of 600 sentences in 20 articles, with blank lines and no sentence_index (it comes
    from line numbers). Articles are short, as real ones are: a context model (the default) gets
    each whole article in one batch whatever --batch-size, so the scores cannot depend on it."""
    texts = [json.loads(line)["text"] for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
    path = tmp_path_factory.mktemp("input") / "many.jsonl"
    lines = []
    for i in range(600):
        lines.append(json.dumps({"doc_id": f"article-{i // 30}", "text": f"{texts[i % len(texts)]} ({i})"}))
        if i % 97 == 0:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def score_to(tmp_path, name, *args):
    out = tmp_path / name
    main([*map(str, args), "-o", str(out)])
    return out


def test_tiny_batches_give_the_same_output_as_one_batch(tmp_path, trained_model, sentences):
    one = score_to(tmp_path, "one.csv", "--model", trained_model, SEEDS, sentences, "--batch-size", 100000)
    tiny = score_to(tmp_path, "tiny.csv", "--model", trained_model, SEEDS, sentences, "--batch-size", 3)
    assert tiny.read_bytes() == one.read_bytes()
    assert len(one.read_text(encoding="utf-8").splitlines()) == 1 + 55 + 600


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_resume_after_an_interruption_gives_exactly_the_full_output(tmp_path, trained_model, sentences,
                                                                   monkeypatch, fmt):
    full = score_to(tmp_path, f"full.{fmt}", "--model", trained_model, sentences)
    monkeypatch.setattr(resumable, "PARQUET_PART_ROWS", 40)
    out = tmp_path / f"resumed.{fmt}"
    args = ["--model", str(trained_model), str(sentences), "-o", str(out), "--batch-size", "30"]

    write_again = stop_after_writes(monkeypatch, 9, flush=fmt != "parquet")
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 130 and not out.exists()
    progress = json.loads((tmp_path / f".{out.name}.partial" / "progress.json").read_text())
    assert 0 < progress["items"] < 9 * 30

    write_again()
    main([*args, "--resume"])
    assert read_rows(out, fmt) == read_rows(full, fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([full.name, out.name])


def read_rows(path, fmt):
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.slow
def test_resume_after_the_process_is_killed(tmp_path, trained_model):
    big = write_jsonl(tmp_path / "big.jsonl", ({"text": f"The minister spoke on day {i}."} for i in range(30000)))
    out = tmp_path / "scores.jsonl"
    args = ["score", "--model", trained_model, big, "-o", out, "--batch-size", "50"]
    process = subprocess.Popen([sys.executable, "-m", "pipeline.score", *map(str, args[1:])], cwd=ROOT,
                               stderr=subprocess.PIPE)
    progress = tmp_path / f".{out.name}.partial" / "progress.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if progress.exists() and json.loads(progress.read_text())["items"] >= 500:
            break
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists()

    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["sentence_index"] for r in records] == list(range(30000))
    assert records[12345]["text"] == "The minister spoke on day 12345."


def test_resume_refuses_changed_inputs_and_a_partial_run_is_never_overwritten(tmp_path, trained_model, sentences,
                                                                               monkeypatch):
    source = tmp_path / "input.jsonl"
    source.write_bytes(sentences.read_bytes())
    out = tmp_path / "scores.jsonl"

    def die(self, items_done, final=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(FileOutput, "commit", die)
    with pytest.raises(SystemExit):
        main(["--model", str(trained_model), str(source), "-o", str(out)])
    partial = tmp_path / f".{out.name}.partial"
    assert partial.is_dir() and not out.exists()

    again = run_cli("score", "--model", trained_model, source, "-o", out)
    assert again.returncode == 2 and "pass --resume" in again.stderr and again.stderr.count("\n") == 1
    with open(source, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "One more."}) + "\n")
    changed = run_cli("score", "--model", trained_model, source, "-o", out, "--resume")
    assert changed.returncode == 2, changed.stderr
    assert changed.stderr.startswith("error: --resume: the inputs differ from the interrupted run")
    assert partial.is_dir() and not out.exists()


def test_bad_line_mid_run_leaves_nothing_behind(tmp_path, trained_model):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"text": f"Line {i}."}) + "\n" for i in range(50)) + "{oops\n")
    out = tmp_path / "scores.csv"
    result = run_cli("score", "--model", trained_model, bad, "-o", out, "--batch-size", "10")
    assert result.returncode == 2 and f"{bad}: line 51: not valid JSON" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_two_processes_give_the_same_output_as_one(tmp_path, trained_model, sentences):
    one = score_to(tmp_path, "one.jsonl", "--model", trained_model, SEEDS, sentences, "--batch-size", 40)
    two = score_to(tmp_path, "two.jsonl", "--model", trained_model, SEEDS, sentences, "--batch-size", 40,
                   "--jobs", 2)
    assert two.read_bytes() == one.read_bytes()


def test_a_file_smaller_than_a_partition_is_shared_out_among_the_workers(tmp_path, trained_model, sentences,
                                                                        monkeypatch):
    """600 sentences with --jobs 2 are two partitions of whole articles, not one (one worker idle)."""
    out = tmp_path / "scores.jsonl"
    real_append, done = FileOutput.append_work, []

    def append(self, path, items_done):
        done.append(items_done)
        real_append(self, path, items_done)

    monkeypatch.setattr(FileOutput, "append_work", append)
    main(["--model", str(trained_model), str(sentences), "-o", str(out), "--jobs", "2"])
    assert done == [300, 600]
    assert out.read_text(encoding="utf-8") == run_cli("score", "--model", trained_model, sentences).stdout


def test_parquet_in_and_out(tmp_path, trained_model):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = ["We will crush them.", "The talks ended on Monday.", "A shameful betrayal."]
    with_ids = tmp_path / "with_ids.parquet"
    pq.write_table(pa.table({"text": texts, "doc_id": ["a", "a", "b"], "sentence_index": [4, 5, 0]}),
                   with_ids, row_group_size=2)
    bare = tmp_path / "bare.parquet"
    pq.write_table(pa.table({"text": texts}), bare)
    out = score_to(tmp_path, "scores.parquet", "--model", trained_model, with_ids, bare, "--batch-size", 2)
    rows = pq.read_table(out).to_pylist()
    assert [(r["doc_id"], r["sentence_index"]) for r in rows] == [("a", 4), ("a", 5), ("b", 0),
                                                                  ("bare", 0), ("bare", 1), ("bare", 2)]
    as_jsonl = score_to(tmp_path, "scores.jsonl", "--model", trained_model, with_ids, bare)
    for row, record in zip(rows, map(json.loads, as_jsonl.read_text().splitlines())):
        assert row["text"] == record["text"] and row["label"] == record["label"]
        assert {k[6:]: v for k, v in row.items() if k.startswith("score_")} == record["scores"]


def test_parquet_without_text_column_is_one_line_error(tmp_path, trained_model):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"sentence": ["x"]}), path)
    result = run_cli("score", "--model", trained_model, path)
    assert result.returncode == 2 and result.stderr == f"error: {path}: no 'text' column\n"


@pytest.mark.slow
def test_dask_gives_the_same_output_as_local(tmp_path, trained_model, sentences):
    pytest.importorskip("distributed", reason="dask is an optional extra: pip install '.[dask]'")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"text": [f"Officials said {i} people left." for i in range(90)]})
    parquet = tmp_path / "many.parquet"
    pq.write_table(table, parquet, row_group_size=20)
    inputs = [sentences, parquet, SEEDS / "000_5e3df5cfc0837a4b.txt"]
    local = run_cli("score", "--model", trained_model, *inputs, "--format", "csv")
    dask = run_cli("score", "--model", trained_model, *inputs, "--format", "csv", "--engine", "dask",
                   "--batch-size", "45")
    assert dask.returncode == 0, dask.stderr
    assert dask.stdout == local.stdout
    assert len(dask.stdout.splitlines()) == 1 + 600 + 90 + 28
    # With -o, the workers write the partitions themselves (the main process only appends them).
    out = tmp_path / "scores.csv"
    written = run_cli("score", "--model", trained_model, *inputs, "-o", out, "--engine", "dask", "--batch-size", "45")
    assert written.returncode == 0, written.stderr
    assert out.read_text(encoding="utf-8") == local.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.parquet", "scores.csv"]


@pytest.mark.slow
def test_dask_workers_send_their_warnings_back_to_be_said_once(tmp_path, trained_model):
    """Each worker reading a partition with a blank sentence used to print the warning meant once a run."""
    pytest.importorskip("distributed", reason="dask is an optional extra: pip install '.[dask]'")
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"doc_id": f"d{i // 2}", "text": t}) + "\n"
                            for i, t in enumerate(["We will find you.", ""] * 20)))
    out = tmp_path / "scored.jsonl"
    for output in (["--format", "jsonl"], ["-o", out]):  # scores sent back; work files written by the workers
        result = run_cli("score", "--model", trained_model, rows, "--engine", "dask", "--batch-size", "2", *output)
        assert result.returncode == 0, result.stderr
        assert result.stderr.count("is blank") == 1, result.stderr
    assert len(out.read_text().splitlines()) == 40


@pytest.mark.slow
def test_local_cluster_workers_start_with_the_model_in_memory(tmp_path, trained_model, sentences):
    """Forked LocalCluster workers score with the model loaded here: none loads the folder again
    (on two cores that took longer than scoring 100k sentences), so a folder gone by then is no matter."""
    pytest.importorskip("distributed", reason="dask is an optional extra: pip install '.[dask]'")
    import shutil

    import numpy as np

    from pipeline.artifacts.loading import LoadOptions, load_model
    from pipeline.scoring.dask_engine import score_with_dask

    folder = shutil.copytree(trained_model, tmp_path / "model")
    model = load_model(folder)
    shutil.rmtree(folder)
    scored = list(score_with_dask([str(sentences)], folder, model.labels, 300, None, 2, LoadOptions(), True, model))
    items = [item for batch, _ in scored for item in batch]
    assert len(items) == 600
    expected = model.predict_items(items)
    np.testing.assert_allclose(np.vstack([scores for _, scores in scored]), expected, atol=1e-12)


@pytest.mark.slow
def test_dask_scoring_beside_another_cluster_prints_no_warning(tmp_path, trained_model, sentences):
    """Two `--engine dask` runs at once on one machine: the second prints no warning about the
    port the first one's scheduler holds (it would be a line beside the command's own)."""
    pytest.importorskip("distributed", reason="dask is an optional extra: pip install '.[dask]'")
    import contextlib
    import socket

    with socket.socket() as taken:  # what another run's scheduler holds
        with contextlib.suppress(OSError):  # already taken: so much the better
            taken.bind(("127.0.0.1", 8787))
            taken.listen()
        result = run_cli("score", "--model", trained_model, sentences, "-o", tmp_path / "scores.jsonl",
                         "--engine", "dask")
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_a_scheduler_that_cannot_be_reached_is_one_line_and_keeps_what_a_resumed_run_committed(
        tmp_path, trained_model, sentences, monkeypatch, capsys):
    pytest.importorskip("distributed", reason="dask is an optional extra: pip install '.[dask]'")
    import dask

    out = tmp_path / "scores.jsonl"
    args = ["--model", str(trained_model), str(sentences), "-o", str(out), "--batch-size", "30"]
    with pytest.raises(SystemExit) as refused:
        main([*args, "--engine", "dask", "--scheduler", "not-an-address"])
    assert refused.value.code == 2 and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err == ("error: --scheduler: cannot connect to not-an-address: "
                                       "missing port number in address 'not-an-address'\n")

    write_again = stop_after_writes(monkeypatch, 5)
    with pytest.raises(SystemExit):
        main(args)
    write_again()
    progress = tmp_path / f".{out.name}.partial" / "progress.json"
    committed = json.loads(progress.read_text())["items"]
    capsys.readouterr()
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(SystemExit) as refused:
        main([*args, "--resume", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: --scheduler: cannot connect to tcp://127.0.0.1:1: ") and "--resume" in err, err
    assert 0 < committed == json.loads(progress.read_text())["items"]
    main([*args, "--resume"])
    full = score_to(tmp_path, "full.jsonl", "--model", trained_model, sentences)
    assert out.read_bytes() == full.read_bytes()


def test_dask_missing_is_one_line_saying_what_to_install(trained_model):
    code = ("import sys; sys.modules['distributed'] = None; from pipeline.score import main; "
            f"main(['--model', {str(trained_model)!r}, {str(SEED_DATA)!r}, '--engine', 'dask'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr == "error: --engine dask needs dask and distributed: pip install 'rhetoric-pipeline[dask]'\n"


def test_progress_bar_on_a_terminal_and_not_in_pipes(tmp_path, trained_model, sentences):
    import fcntl
    import pty
    import struct
    import termios

    args = [sys.executable, "-m", "pipeline.score", "--model", str(trained_model), str(sentences),
            "-o", str(tmp_path / "s.jsonl")]
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with subprocess.Popen(args, cwd=ROOT, stderr=follower, stdout=subprocess.DEVNULL) as process:
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    os.close(leader)
    assert process.returncode == 0
    assert b"600/600" in shown and b"sentences/s" in shown
    piped = run_cli("score", "--model", trained_model, sentences, "-o", tmp_path / "p.jsonl")
    assert piped.returncode == 0 and piped.stderr == ""


@pytest.mark.parametrize("kind", ["context", "text"])
def test_one_sentence_imports_no_heavy_reader(request, kind):
    """Neither model kind imports Hydra, datasets or matplotlib; a text model not even pandas.

    (A context model's input is a DataFrame, so it needs pandas.)
    """
    model = request.getfixturevalue({"context": "trained_model", "text": "text_model"}[kind])
    heavy = ("hydra", "datasets", "matplotlib", "dask", "distributed", "tqdm")
    if kind == "text":
        heavy += ("pyarrow", "pandas")
    code = (
        "import runpy, sys; "
        f"sys.argv = ['score', '--model', {str(model)!r}, '--text', 'We will come.']; "
        "runpy.run_module('pipeline.score', run_name='__main__', alter_sys=True); "
        f"print('LOADED', [m for m in {heavy!r} if sys.modules.get(m)], file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and json.loads(result.stdout)["label"], result.stderr
    assert "LOADED []" in result.stderr


def test_batched_sgd_is_a_well_behaved_estimator():
    import numpy as np
    from sklearn.base import clone
    from sklearn.feature_extraction.text import HashingVectorizer

    from pipeline.models.streaming import BatchedSGDClassifier

    texts = [json.loads(line)["text"] for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
    labels = [json.loads(line)["label"] for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
    X = HashingVectorizer(alternate_sign=False).transform(texts)
    model = BatchedSGDClassifier(batch_size=7, n_epochs=3, class_weight="balanced", random_state=0)
    assert clone(model).get_params() == model.get_params()
    first = model.fit(X, labels).predict_proba(X)
    again = clone(model).fit(X, labels).predict_proba(X)
    assert np.array_equal(first, again) and first.shape == (55, 4)
    assert list(model.classes_) == sorted(set(labels))
    assert not hasattr(BatchedSGDClassifier(loss="hinge").fit(X, labels), "predict_proba")


@pytest.mark.slow
def test_sgd_streaming_trains_through_the_cli_and_writes_the_evaluation_files(tmp_path):
    run_dir, models = tmp_path / "run", tmp_path / "models"
    result = run_cli("train", "experiment=out_of_core", "data=seed", "model.batch_size=8",
                     f"hydra.run.dir={run_dir}", f"paths.models_dir={models}", "run_name=stream")
    assert result.returncode == 0, result.stderr
    for name in ("metrics.json", "report.md", "confusion_matrix.png"):
        assert (run_dir / name).is_file()
    card = json.loads((models / "stream" / "model.json").read_text())
    assert card["config"]["model"]["_target_"] == "pipeline.models.streaming.BatchedSGDClassifier"
    assert card["config"]["features"]["_target_"].endswith("HashingVectorizer")
    assert card["score_method"] == "predict_proba" and card["metrics"]["n_sentences"] == 55
    scored = run_cli("score", "--model", models / "stream", "--text", "We will burn the city.")
    assert scored.returncode == 0 and json.loads(scored.stdout)["label"] in card["labels"]


@pytest.mark.slow
def test_sweep_on_submitit_local_launcher(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the [slurm] extra")
    models = tmp_path / "models"
    result = run_cli("train", "-m", "hydra/launcher=submitit_local", "data=seed", "features=word_tfidf",
                     "seed=1,2", f"paths.models_dir={models}", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode == 0, result.stderr
    assert len([p for p in models.iterdir() if p.name != "latest"]) == 2
    for job in ("0", "1"):
        assert (tmp_path / "sweep" / job / "metrics.json").is_file()


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_partitions_of_a_context_model_hold_whole_articles(tmp_path, suffix):
    """Worker partitions (--jobs, dask) end between articles, and together hold every row in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.scoring.dask_engine import read_partition
    from pipeline.scoring.inputs import read_file
    from pipeline.scoring.partitions import plan_partitions

    rows = [{"doc_id": f"a{i // 7}", "text": f"Sentence {i}."} for i in range(100)]
    path = tmp_path / f"articles.{suffix}"
    if suffix == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=5)
    else:
        write_jsonl(path, rows)
    parts = plan_partitions([str(path)], 10, whole_documents=True)
    by_part = [list(zip(f["doc_id"], f["sentence_index"], f["text"])) for f in map(read_partition, parts)]
    assert len(by_part) > 3
    assert [item for part in by_part for item in part] == list(read_file(path))
    for before, after in zip(by_part, by_part[1:]):
        assert before[-1][0] != after[0][0]  # no article on both sides of a cut
    plain = plan_partitions([str(path)], 10)  # a text model: any cut will do
    assert sum(len(read_partition(part)) for part in plain) == 100


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_two_processes_write_what_one_writes_for_every_input_kind(tmp_path, trained_model, sentences, fmt,
                                                                   monkeypatch):
    """Partitions of Parquet, JSONL, CSV and articles, scored and written by the workers."""
    import pyarrow as pa
    import pyarrow.parquet as pq



    monkeypatch.setattr(scoring_run, "MIN_PARTITION_ROWS", 1)
    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": [f"Officials said {i} people left." for i in range(90)],
                             "doc_id": [f"p{i // 9}" for i in range(90)]}), parquet, row_group_size=20)
    table = tmp_path / "in.csv"
    table.write_text("doc_id,text\nc1,We will strike.\nc1,The vote was held.\n", encoding="utf-8")
    inputs = [parquet, sentences, table, SEEDS]
    one = score_to(tmp_path, f"one.{fmt}", "--model", trained_model, *inputs)
    two = score_to(tmp_path, f"two.{fmt}", "--model", trained_model, *inputs, "--jobs", 2, "--batch-size", 25)
    assert read_rows(two, fmt) == read_rows(one, fmt)
    assert len(read_rows(one, fmt)) == 90 + 600 + 2 + 55 + (fmt == "csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.parquet", "in.csv", one.name, two.name])


def test_two_processes_to_stdout_and_resumed_after_an_interruption(tmp_path, trained_model, sentences,
                                                                   monkeypatch):


    monkeypatch.setattr(scoring_run, "MIN_PARTITION_ROWS", 1)
    local = run_cli("score", "--model", trained_model, sentences, "--format", "jsonl")
    piped = run_cli("score", "--model", trained_model, sentences, "--jobs", 2, "--batch-size", 60)
    assert piped.returncode == 0 and piped.stdout == local.stdout

    out = tmp_path / "scores.jsonl"
    args = ["--model", str(trained_model), str(sentences), "-o", str(out), "--jobs", "2", "--batch-size", "60"]
    real_append, calls = FileOutput.append_work, []

    def append_then_die(self, path, items_done):
        calls.append(items_done)
        if len(calls) == 4:
            raise KeyboardInterrupt  # three partitions committed, the fourth scored but not
        real_append(self, path, items_done)

    monkeypatch.setattr(FileOutput, "append_work", append_then_die)
    with pytest.raises(SystemExit):
        main(args)
    assert json.loads((tmp_path / f".{out.name}.partial" / "progress.json").read_text())["items"] == calls[2]
    monkeypatch.setattr(FileOutput, "append_work", real_append)
    main([*args, "--resume"])
    assert out.read_text(encoding="utf-8") == local.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
