"""The commands as a user runs them: subprocesses, real exit codes, real files."""

import json
from pathlib import Path

import pytest
from conftest import ROOT, SEED_DATA, run_cli

pytestmark = pytest.mark.slow


def test_train_with_overrides_writes_evaluation_files_and_model(tmp_path):
    run_dir, models = tmp_path / "run", tmp_path / "models"
    result = run_cli(
        "train", "model=linear_svc", "model.C=0.5", "features=char_tfidf", "features.ngram_range=[2,5]",
        "seed=7", f"data.path={ROOT / 'data' / 'written' / 'starter_mixed_topics.jsonl'}", f"hydra.run.dir={run_dir}", f"paths.models_dir={models}", "run_name=svc",
    )
    assert result.returncode == 0, result.stderr
    for name in ("metrics.json", "report.md", "confusion_matrix.png"):
        assert (run_dir / name).is_file()
    assert "macro F1" in result.stdout and "editorial_framing" in result.stdout
    card = json.loads((models / "svc" / "model.json").read_text())
    assert card["config"]["model"]["C"] == 0.5
    assert card["config"]["features"]["ngram_range"] == [2, 5]
    assert card["config"]["seed"] == 7
    assert (models / "latest").resolve() == (models / "svc").resolve()
    # The same run folder again: refused before Hydra writes its config there (the run was replaced)
    before = {f: f.read_bytes() for f in run_dir.rglob("*") if f.is_file()}
    again = run_cli("train", "data=seed", f"hydra.run.dir={run_dir}", f"paths.models_dir={models}", "run_name=again")
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"error: hydra.run.dir: {run_dir} holds a finished run (model_dir.txt); give a new folder, or remove that run first"]
    assert {f: f.read_bytes() for f in run_dir.rglob("*") if f.is_file()} == before


def unwritable_folder(tmp_path):
    """A folder no model can be saved in: read-only, or for root (whom permissions do not stop) a
    folder of /proc, where no folder can be made."""
    import os

    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if not Path("/proc/self").is_dir():
        pytest.skip("running as root without /proc: no folder here refuses writes")
    return Path("/proc/self")


def test_a_models_folder_that_cannot_be_written_is_refused_before_training(tmp_path):
    folder = unwritable_folder(tmp_path)
    result = run_cli("train", "data=seed", f"hydra.run.dir={tmp_path / 'run'}", f"paths.models_dir={folder / 'models'}")
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: config paths.models_dir: {folder / 'models'}: cannot write in {folder} (")
    assert line.endswith("); the model could not be saved, so nothing was trained")
    assert "macro F1" not in result.stdout and not (tmp_path / "run").exists()


def test_evaluate_writes_its_files_into_its_run_dir(tmp_path, trained_model):
    out = tmp_path / "eval"
    result = run_cli("evaluate", f"model_dir={trained_model}", f"data.path={SEED_DATA}", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_sentences"] == 55
    assert set(metrics["per_label"]) == {"threat", "reporting", "editorial_framing", "background_fact"}
    assert (out / "report.md").is_file() and (out / "confusion_matrix.png").is_file()
    # data.test_path is not what evaluate reads (data=newsdiscourse names its test split there): said
    test = tmp_path / "test.jsonl"
    test.write_bytes(SEED_DATA.read_bytes())
    again = run_cli("evaluate", f"model_dir={trained_model}", f"data.path={SEED_DATA}", f"data.test_path={test}",
                    f"hydra.run.dir={tmp_path / 'eval2'}")
    assert again.returncode == 0 and f"warning: data.test_path: evaluate scores data.path ({SEED_DATA})" in again.stderr
    # data.path set to that test file: nothing to say (it asked for the file already given)
    same = run_cli("evaluate", f"model_dir={trained_model}", f"data.path={test}", f"data.test_path={test}",
                   f"hydra.run.dir={tmp_path / 'eval3'}")
    assert same.returncode == 0 and "data.test_path" not in same.stderr, same.stderr


def test_evaluating_a_file_without_one_label_says_macro_f1_counts_it_as_zero(tmp_path, trained_model):
    rows = [json.loads(line) for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
    no_threats = tmp_path / "no_threats.jsonl"
    no_threats.write_text("".join(json.dumps(r) + "\n" for r in rows if r["label"] != "threat"), encoding="utf-8")
    result = run_cli("evaluate", f"model_dir={trained_model}", f"data.path={no_threats}",
                     f"hydra.run.dir={tmp_path / 'eval'}")
    assert result.returncode == 0, result.stderr
    assert ("warning: data.path: no sentence is labeled threat; macro-F1 averages 4 labels and counts it as F1 0"
            in result.stderr)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["per_label"]["threat"]["support"] == 0 and metrics["per_label"]["threat"]["f1"] == 0
    with_all = run_cli("evaluate", f"model_dir={trained_model}", f"data.path={SEED_DATA}",
                       f"hydra.run.dir={tmp_path / 'eval2'}")
    assert with_all.returncode == 0 and "no sentence is labeled" not in with_all.stderr


def test_evaluate_without_model_dir_loads_models_latest_where_you_run_as_score_does(tmp_path, trained_model):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "latest").symlink_to(trained_model, target_is_directory=True)
    result = run_cli("evaluate", f"data.path={SEED_DATA}", f"hydra.run.dir={tmp_path / 'eval'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["model"]["name"] == "seed-model"  # not the project's own models/latest
    scored = run_cli("score", "--text", "We will find you.", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr


def test_blank_sentences_in_a_sentence_file_keep_their_rows_with_one_warning(tmp_path, trained_model):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["We will find you.", "", "  ", "Polls closed."]))
    result = run_cli("score", "--model", trained_model, rows)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["We will find you.", "", "  ",
                                                                                 "Polls closed."]
    assert result.stderr.count("is blank") == 1 and f"{rows}: sentence 1 of 'rows' is blank" in result.stderr
    rows.write_text("".join(json.dumps({"doc_id": f"d{i // 2}", "text": t}) + "\n"
                            for i, t in enumerate(["We will find you.", ""] * 20)))
    out = tmp_path / "scored.jsonl"  # workers read their parts of the file themselves, two articles or more each
    on_workers = run_cli("score", "--model", trained_model, rows, "--jobs", "2", "--batch-size", "2", "-o", out)
    assert on_workers.returncode == 0 and len(out.read_text().splitlines()) == 40, on_workers.stderr
    assert on_workers.stderr.count("is blank") == 1, on_workers.stderr  # once, not once a worker
    clean = run_cli("score", "--model", trained_model, "--text", "We will find you. Polls closed.")
    assert clean.returncode == 0 and "blank" not in clean.stderr


def test_a_sentence_holding_a_unicode_line_separator_stays_one_jsonl_line(tmp_path, trained_model):
    texts = ["Troops massed\u2028at the border.", "Talks\x85ended.", "We will\u2029find you."]
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    result = run_cli("score", "--model", trained_model, rows, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()  # str.splitlines() splits at U+2028, U+2029 and U+0085 too
    assert [json.loads(line)["text"] for line in lines] == texts


def test_a_context_model_scores_interleaved_articles_alike_whatever_the_batches_and_jobs(tmp_path, trained_model):
    import random

    rng = random.Random(1)
    texts = ["We will burn your village unless you pay.", "The minister spoke on Monday.", "It is a disgrace.",
             "The dam was built in 1962.", "Rebels vowed to attack the city.", "Prices rose last year."]
    rows = tmp_path / "rows.jsonl"  # 12 articles whose sentences come in many runs, as in rows sorted by time
    rows.write_text("".join(json.dumps({"doc_id": f"d{rng.randrange(12)}", "text": rng.choice(texts)}) + "\n"
                            for _ in range(600)))
    outputs = []
    for options in (["--batch-size", "2000"], ["--batch-size", "70"], ["--batch-size", "70", "--jobs", "2"]):
        result = run_cli("score", "--model", trained_model, rows, "--format", "jsonl", *options)
        assert result.returncode == 0, result.stderr
        outputs.append([json.loads(line) for line in result.stdout.splitlines()])
    assert len(outputs[0]) == 600 and outputs[1] == outputs[0] and outputs[2] == outputs[0]
    said = "not all together in the input: a context model reads each run of them as its own article"
    assert result.stderr.count(said) == 1  # the main process says it once, not each worker


def test_score_text_and_stdin(trained_model):
    result = run_cli("score", "--model", trained_model, "--text", "We will find you. The vote was held on Sunday.")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["doc_id"], r["sentence_index"]) for r in records] == [("text", 0), ("text", 1)]
    assert records[1]["text"] == "The vote was held on Sunday."

    article = (SEED_DATA.parent.parent / "seeds" / "001_34ed1d8fc32fd563.txt").read_text(encoding="utf-8")
    piped = run_cli("score", "--model", trained_model, "-", input=article)
    assert piped.returncode == 0, piped.stderr
    assert len(piped.stdout.splitlines()) == 27


@pytest.mark.parametrize(
    "args, message",
    [
        (["data.path=/no/such/file.jsonl"], "data.path: file not found: /no/such/file.jsonl"),
        (["model.Cx=1"], "Key 'Cx' is not in struct"),
        (["model=forest"], "Could not find 'model/forest'"),
        (["model.C=-1"], "config model.C:"),
        (["data.labels=[threat]"], "data.labels: needs at least 2 labels"),
    ],
)
def test_train_bad_input_is_one_line_exit_2_and_no_model(tmp_path, args, message):
    models = tmp_path / "models"
    result = run_cli("train", *args, f"hydra.run.dir={tmp_path / 'run'}", f"paths.models_dir={models}")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not models.exists() or not any(models.iterdir())
    assert not (tmp_path / "run").exists()  # Hydra's .hydra/ and train.log stayed there


def test_a_refused_run_leaves_no_run_folder_and_keeps_any_folder_it_did_not_make(tmp_path):
    runs, models = tmp_path / "runs", tmp_path / "models"
    refused = run_cli("train", "data=seed", "model.C=-1", f"paths.runs_dir={runs}", f"paths.models_dir={models}")
    assert refused.returncode == 2 and "config model.C:" in refused.stderr
    assert list((runs / "train").iterdir()) == []
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes\n")
    again = run_cli("train", "data=seed", "model.C=-1", f"hydra.run.dir={mine}", f"paths.models_dir={models}")
    assert again.returncode == 2 and (mine / "notes.txt").read_text() == "my notes\n"
    # A models folder that cannot be made is refused before training (it was found at the save, after
    # the evaluation): the run folder goes too
    (tmp_path / "afile").write_text("")
    late = run_cli("train", "data=seed", "features=word_tfidf", f"hydra.run.dir={tmp_path / 'ran'}",
                   f"paths.models_dir={tmp_path / 'afile'}")
    assert late.returncode == 2 and "config paths.models_dir:" in late.stderr and "is a file" in late.stderr
    assert not (tmp_path / "ran").exists()


def test_a_sweep_refused_at_a_job_keeps_the_jobs_that_ran_and_no_empty_folder(tmp_path):
    models = tmp_path / "models"
    # min_df=1000 keeps no term: met only when a job fits, so the jobs before it train
    sweep = [run_cli("train", "-m", "data=seed", "features=word_tfidf", f"features.min_df={values}", "save_skops=false",
                     f"hydra.sweep.dir={tmp_path / name}", f"paths.models_dir={models}")
             for name, values in [("second", "1,1000"), ("first", "1000,1")]]
    assert [result.returncode for result in sweep] == [2, 2]
    assert sorted(p.name for p in (tmp_path / "second").iterdir()) == ["0", "multirun.yaml"]
    assert (tmp_path / "second" / "0" / "metrics.json").is_file()
    assert not (tmp_path / "first").exists()  # its first job was refused: no run in it


def test_a_joblib_sweep_refused_at_a_job_leaves_no_folder_of_the_jobs_it_stopped(tmp_path):
    # Job 0 is refused while fitting; loky kills job 1's worker, often before it wrote anything but Hydra's files
    sweep, models = tmp_path / "sweep", tmp_path / "models"
    result = run_cli("train", "-m", "hydra/launcher=joblib", "data=seed", "features=word_tfidf",
                     "features.min_df=1000,1,1", "save_skops=false", f"hydra.sweep.dir={sweep}",
                     f"paths.models_dir={models}")
    assert result.returncode == 2 and "sweep job 0 failed, so the sweep stopped" in result.stderr, result.stderr
    jobs = [job for job in sweep.iterdir() if job.is_dir()] if sweep.exists() else []
    assert not [job for job in jobs if {f.name for f in job.iterdir()} <= {".hydra", "train.log"}], jobs
    assert sweep.exists() == bool(jobs)  # only a job that finished (model_dir.txt) keeps the sweep


@pytest.mark.parametrize("args, message, job", [
    (["model.C=1,-5"], "config model.C: The 'C' parameter of LogisticRegression must be a float in the range "
                       "(0.0, inf]. Got -5 instead", "sweep job 1 of 2 (model.C=-5 data=seed"),
    (["modle.C=1,2"], "config: Could not override 'modle.C'.", "sweep job 0 of 2 (modle.C=1 data=seed"),
    (["model=logreg,linear_svc", "features.min_df=true", "hydra/launcher=joblib"],  # every job: the first named
     "config features.min_df: expected a number, got True", "sweep job 0 of 2 (model=logreg features.min_df=True"),
])
def test_a_sweep_with_a_job_that_cannot_run_is_refused_before_any_job_trains(tmp_path, args, message, job):
    # The jobs before it trained, the jobs after it never ran, and the sweep folder was left
    sweep, models = tmp_path / "sweep", tmp_path / "models"
    result = run_cli("train", "-m", *args, "data=seed", "features=word_tfidf", "save_skops=false",
                     f"hydra.sweep.dir={sweep}", f"paths.models_dir={models}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {message}"), result.stderr
    assert f"; in {job} " in result.stderr and result.stderr.endswith("), so no job was run\n"), result.stderr
    assert not sweep.exists() and not models.exists()


@pytest.mark.parametrize("args, message", [(["-m", "model=logreg,forest"], "Could not find 'model/forest'"),
                                           (["-m", "modle=logreg,sgd"], "Could not override 'modle'"),
                                           (["--cfg", "job", "modle=sgd"], "Could not override 'modle'")])
def test_a_config_typo_hydra_itself_meets_is_one_line_too(tmp_path, args, message):
    """Hydra's own flags skip the preflight, and Hydra's error is then the one line; a sweep's jobs are composed
    there first (Hydra left the sweep folder with its multirun.yaml)."""
    models = tmp_path / "models"
    result = run_cli("train", *args, "data=seed",
                     f"hydra.sweep.dir={tmp_path / 'sweep'}", f"paths.models_dir={models}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not models.exists() and not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("command", ["train", "evaluate"])
@pytest.mark.parametrize("args, message", [
    (["--foo"], "error: unknown option --foo: settings are given as key=value, without dashes (e.g. {example}); "
                "python -m pipeline.{command} --help lists them"),
    (["data=seed", "--foo=1", "-x"], "error: unknown options --foo=1, -x: settings are given as key=value"),
    (["--cfg", "foo"], "error: argument --cfg/-c: invalid choice: 'foo' (choose from 'job', 'hydra', 'all') "
                       "(see python -m pipeline.{command} --help)"),
    (["data=seed", "--cfg", "job", "seed=7"], "error: settings cut off by a flag: seed=7 hydra.run.dir="),
    (["-m", "--cfg", "job"], "error: only one of --run, --multirun, --cfg, --info and --shell-completion can be "
                             "given, got --multirun and --cfg (see python -m pipeline.{command} --help)"),
])
def test_a_flag_hydra_does_not_know_is_one_line_naming_it(tmp_path, command, args, message):
    # Hydra printed its usage over 20 lines, naming the flag only at the end
    example = {"train": "model.C=0.5", "evaluate": "model_dir=models/latest"}[command]
    result = run_cli(command, *args, f"hydra.run.dir={tmp_path / 'run'}", f"paths.models_dir={tmp_path / 'models'}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(message.format(command=command, example=example))
    assert not (tmp_path / "run").exists() and not (tmp_path / "models").exists()


def test_hydra_flags_still_reach_hydra():
    result = run_cli("train", "--cfg", "job", "model.C=2", "data=seed")
    assert result.returncode == 0 and "C: 2" in result.stdout, result.stderr
    assert run_cli("evaluate", "--version").stdout.startswith("Hydra ")


@pytest.mark.parametrize("line, message", [('{"text": "x", "label"', "line 2: not valid JSON"),
                                           ('{"text": "", "label": "threat", "doc_id": "d"}', "line 2: empty text"),
                                           ('{"text": "x", "label": "rumour", "doc_id": "d"}', "unknown label 'rumour'")])
def test_bad_training_file_names_the_line(tmp_path, line, message):
    data = tmp_path / "bad.jsonl"
    good = '{"text": "We will strike.", "label": "threat", "doc_id": "a"}'
    data.write_text(good + "\n" + line + "\n", encoding="utf-8")
    models = tmp_path / "models"
    result = run_cli("train", f"data.path={data}", f"hydra.run.dir={tmp_path / 'run'}", f"paths.models_dir={models}")
    assert result.returncode == 2
    assert str(data) in result.stderr and message in result.stderr, result.stderr
    assert not models.exists()


@pytest.mark.parametrize("make_folder", ["missing", "empty", "no_card"])
def test_score_refuses_a_broken_model_folder(tmp_path, trained_model, make_folder):
    folder = tmp_path / "model"
    if make_folder != "missing":
        folder.mkdir()
    if make_folder == "no_card":
        (folder / "model.joblib").write_bytes((trained_model / "model.joblib").read_bytes())
    result = run_cli("score", "--model", folder, "--text", "Hello.")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert str(folder) in result.stderr


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_run_folder_that_cannot_be_made_is_one_line(tmp_path, command):
    in_the_way = tmp_path / "runs"
    in_the_way.write_text("a file, not a folder\n")
    args = ["data=seed", f"paths.models_dir={tmp_path / 'models'}"] if command == "train" else [
        f"model_dir={tmp_path / 'none'}", f"data.path={SEED_DATA}"]
    result = run_cli(command, *args, f"hydra.run.dir={in_the_way / 'run'}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {in_the_way / 'run'}: cannot write the run folder: Not a directory"], result.stderr
    assert in_the_way.read_text() == "a file, not a folder\n" and not (tmp_path / "models").exists()


def test_a_models_folder_name_too_long_is_one_line_and_leaves_no_run_folder(tmp_path):
    models = tmp_path / ("m" * 300)
    result = run_cli("train", "data=seed", f"paths.models_dir={models}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0].startswith("error: config paths.models_dir: File name too long: ")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "run").exists(), result.stderr


def test_a_models_folder_under_a_file_is_refused_before_training(tmp_path):
    (tmp_path / "models").write_text("a file\n")
    result = run_cli("train", "data=seed", "features=word_tfidf", f"paths.models_dir={tmp_path / 'models' / 'sub'}",
                     f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"error: config paths.models_dir: {tmp_path / 'models' / 'sub'} cannot be "
                                          f"a folder: {tmp_path / 'models'} is a file"], result.stderr
    assert not (tmp_path / "run").exists()  # it trained, wrote the reports, then failed to save


def test_evaluate_refuses_a_missing_model(tmp_path):
    result = run_cli("evaluate", f"model_dir={tmp_path / 'none'}", f"hydra.run.dir={tmp_path / 'out'}")
    assert result.returncode == 2
    assert f"model folder not found: {tmp_path / 'none'}" in result.stderr
    assert not (tmp_path / "out").exists()
