"""SIGTERM (a scheduler stopping the job) and SIGINT (Ctrl-C, sent to the terminal's whole process
group) during scoring (one process, --jobs 2, Dask), training and sweeps: workers stop, temporaries
are removed or left resumable, exit status 143 or 130, and one line saying what was kept.

Real processes and real signals; every wait is bounded.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest
from conftest import ROOT, sentence_file, train_with
from faults import hidden_leftovers, run_command, stderr_lines, visible_models

from pipeline import load_model
from pipeline.artifacts.names import LATEST
from pipeline.score import main as score_main

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and /proc as on Linux")]
SENTENCES = 40_000
EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130}
LINE_START = {signal.SIGTERM: r"terminated \(SIGTERM\): ", signal.SIGINT: r"interrupted: "}


def start(*args, cwd=ROOT) -> subprocess.Popen:
    """`python -m pipeline.<args>` in a session of its own, so its whole process group can be signalled,
    with Ctrl-C handled as in a terminal's foreground job (a test run started in the background,
    `pytest &`, would otherwise pass on its ignored SIGINT, which the commands rightly keep ignoring)."""
    return subprocess.Popen([sys.executable, "-m", *[f"pipeline.{args[0]}", *map(str, args[1:])]], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # SIGABRT prints every stack


def wait_until(condition, process: subprocess.Popen, timeout: float = 240, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the command ended before {what}: {process.stderr.read()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def send(process: subprocess.Popen, signum: int, group: bool) -> None:
    """To the main process (`kill PID`), or to its process group as a terminal's Ctrl-C or Slurm do."""
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)


def finish(process: subprocess.Popen, timeout: float = 90) -> tuple[int, list[str]]:
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Where it hangs: SIGABRT makes each of its processes print its threads' stacks, then end.
        left = session_processes(process.pid)
        os.killpg(process.pid, signal.SIGABRT)
        try:
            _, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            err = "(no stacks within 20 s)"
        err = "\n".join(line for line in err.splitlines() if not line.startswith("Extension modules:"))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"still running {timeout} s after the signal: {left}; their stacks:\n{err[-8000:]}")
    return process.returncode, stderr_lines(err)


def session_processes(session: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(text.split(")")[0] + ")")
    return found


def assert_no_process_left(session: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while session_processes(session):
        assert time.monotonic() < deadline, f"processes left running: {session_processes(session)}"
        time.sleep(0.1)


# ---------------------------------------------------------------- scoring
@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    return sentence_file(tmp_path_factory.mktemp("termination-input") / "articles.jsonl", SENTENCES, 20)


@pytest.fixture(scope="module")
def full_scores(tmp_path_factory, text_model, big_input):
    out = tmp_path_factory.mktemp("termination-reference") / "scores.jsonl"
    score_main(["--model", str(text_model), str(big_input), "-o", str(out)])
    return out.read_bytes()


ENGINES = {"one process": [], "--jobs 2": ["--jobs", "2"], "dask": ["--engine", "dask"]}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("signum, group", [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGTERM to the process", "Ctrl-C to the group"])
def test_a_stopped_scoring_run_says_what_it_kept_and_resumes(tmp_path, text_model, big_input, full_scores, engine,
                                                              signum, group):
    if engine == "dask" and find_spec("distributed") is None:
        pytest.skip("the [dask] extra is not installed")
    out = tmp_path / "scores.jsonl"
    partial = tmp_path / f".{out.name}.partial"
    progress = partial / "progress.json"

    def committed() -> int:
        try:
            return json.loads(progress.read_text())["items"]
        except (OSError, ValueError):
            return 0

    run = start("score", "--model", text_model, big_input, "-o", out, "--batch-size", 1000, *ENGINES[engine])
    wait_until(lambda: committed() > 0, run, what="the first commit")
    send(run, signum, group)
    code, lines = finish(run)

    assert code == EXIT[signum], lines
    assert len(lines) == 1, lines
    found = re.fullmatch(rf"{LINE_START[signum]}([\d,]+) sentences are committed in {partial}; "
                         rf"continue with: (python -m pipeline\.score .* --resume)", lines[0])
    assert found, lines[0]
    assert 0 < int(found.group(1).replace(",", "")) == committed() < SENTENCES
    assert_no_process_left(run.pid)
    assert not out.exists()
    assert {p.name for p in partial.iterdir()} <= {"data", "progress.json", "lock"}  # no work files, no temporaries

    resumed = run_command(found.group(2), cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == full_scores
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_workers_end_when_their_main_process_is_killed_and_the_run_resumes(tmp_path, text_model, big_input,
                                                                          full_scores):
    out = tmp_path / "scores.jsonl"
    progress = tmp_path / f".{out.name}.partial" / "progress.json"
    run = start("score", "--model", text_model, big_input, "-o", out, "--batch-size", 1000, "--jobs", "2")
    wait_until(lambda: progress.exists() and json.loads(progress.read_text() or "{}").get("items"), run,
               what="the first commit")
    run.kill()  # SIGKILL: no handler runs, the workers are left without their main process
    finish(run, timeout=20)  # the workers hold its stderr until they end
    assert_no_process_left(run.pid, timeout=10)  # idle workers waited on their queue, holding the lock

    resumed = score_main(["--model", str(text_model), str(big_input), "-o", str(out), "--resume"])
    assert resumed is None and out.read_bytes() == full_scores


# ---------------------------------------------------------------- training
FAST = ["data=seed", "features=word_tfidf"]


@pytest.fixture
def first_model(tmp_path):
    """models/ holding one complete model, `first`, which latest names."""
    train_with(tmp_path, FAST, run_name="first", run_dir=tmp_path / "run-first")
    return tmp_path / "models"


def assert_models_whole(models: Path) -> None:
    assert hidden_leftovers(models) == []
    for folder in visible_models(models):
        assert load_model(folder).card["name"] == folder.name
    assert (models / LATEST).resolve() in [f.resolve() for f in visible_models(models)]


def test_sigterm_while_a_model_is_written_saves_it_whole_or_not_at_all(tmp_path, first_model):
    models, run_dir = first_model, tmp_path / "run"
    run = start("train", "data=seed", f"paths.models_dir={models}", f"hydra.run.dir={run_dir}", "run_name=second")
    wait_until(lambda: (run_dir / "metrics.json").exists(), run, what="the reports")  # the model is saved next
    send(run, signal.SIGTERM, group=False)
    code, lines = finish(run)

    assert code == 143 and len(lines) == 1, lines
    kept_nothing = (f"terminated (SIGTERM): no model was saved ({models / LATEST} is unchanged); "
                    f"the files already in {run_dir} are complete")
    kept_all = (f"terminated (SIGTERM): the model was saved to {models / 'second'} and {models / LATEST} names it",
                f"terminated (SIGTERM): the run finished: its model is saved and {run_dir / 'model_dir.txt'} names it")
    assert lines[0] == kept_nothing or lines[0] in kept_all
    assert_models_whole(models)
    assert (models / LATEST).resolve().name == ("first" if lines[0] == kept_nothing else "second")
    assert hidden_leftovers(run_dir) == []
    assert_no_process_left(run.pid)


def test_ctrl_c_while_training_keeps_latest(tmp_path, first_model):
    models, run_dir = first_model, tmp_path / "run"
    run = start("train", *FAST, f"paths.models_dir={models}", f"hydra.run.dir={run_dir}", "run_name=second")
    wait_until(lambda: (run_dir / ".hydra" / "config.yaml").exists(), run, what="the run to start")
    time.sleep(1.0)
    send(run, signal.SIGINT, group=True)
    code, lines = finish(run)

    assert code == 130 and len(lines) == 1, lines
    assert lines[0].startswith("interrupted: no model was")
    assert visible_models(models) == [models / "first"]
    assert_models_whole(models)
    assert hidden_leftovers(run_dir) == []


def test_ctrl_c_landing_in_code_built_from_a_string_still_exits_130(tmp_path):
    """A Ctrl-C early in a run often lands while a dataclass or namedtuple is built from a string
    (exec): `python -m` would then end with a SIGINT death (-2) instead of the command's 130."""
    (tmp_path / "interrupted_command.py").write_text(
        "import multiprocessing\n"  # imported by then in a real run (importing it would hide the fault)
        "from pipeline.common.errors import reports_errors\n"
        "reports_errors(lambda: exec('raise KeyboardInterrupt'))()\n")
    run = subprocess.run([sys.executable, "-m", "interrupted_command"], cwd=tmp_path, capture_output=True,
                         check=False, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})

    assert (run.returncode, stderr_lines(run.stderr)) == (130, ["interrupted"])


class InterruptedFinalizer:
    """Deleted, it receives a Ctrl-C while its __del__ runs: Python drops an exception raised there."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(10_000))  # Python code, so the handler runs here


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C raising KeyboardInterrupt in this process, as in a terminal: pytest started in the
    background (nohup, `&`) inherits it ignored, and stopping_signals leaves an ignored one alone."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_a_ctrl_c_dropped_by_a_finalizer_is_delivered_again(ctrl_c_raises):
    from pipeline.common.errors import stopping_signals

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), stopping_signals():
        InterruptedFinalizer()
        time.sleep(5)
    assert time.monotonic() - started < 4


def test_a_ctrl_c_swallowed_by_library_code_is_delivered_again(ctrl_c_raises):
    from pipeline.common.errors import stopping_signals

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), stopping_signals():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10_000))  # Python code, so the handler runs here
        except BaseException:
            pass  # as a library catching everything does, or C code clearing every error
        time.sleep(5)
    assert time.monotonic() - started < 4


def test_a_dropped_ctrl_c_is_not_sent_again_once_its_block_has_ended(ctrl_c_raises):
    from pipeline.common.errors import stopping_signals

    with stopping_signals():
        InterruptedFinalizer()
    try:
        time.sleep(0.3)
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C was sent again after the block had ended")


def test_a_ctrl_c_dropped_as_a_job_ends_reaches_the_sweep_around_it(ctrl_c_raises):
    """A sweep run in one process (Hydra's basic launcher) holds each job's block inside its own:
    a signal a finalizer drops just before a job's block ends must still stop the sweep."""
    from pipeline.common.errors import stopping_signals

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), stopping_signals():
        with stopping_signals():
            InterruptedFinalizer()
        time.sleep(5)  # the next jobs
    assert time.monotonic() - started < 4


def test_a_job_stopped_before_it_says_what_it_kept_leaves_the_line_to_its_sweep(capsys):
    """A signal can land in a basic-launcher job before or after the code that notes what it kept:
    the sweep around it prints the one line, saying what the sweep kept, not a bare one."""
    from pipeline.common.errors import Terminated, reports_errors, stopping_signals

    def job():
        raise Terminated  # as the signal's handler raises it, with nothing noted

    with pytest.raises(Terminated), stopping_signals():
        reports_errors(job)()
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- sweeps
SWEEP = ["-m", *FAST, "save_skops=false", "model=logreg,complement_nb,sgd,linear_svc,logreg"]


@pytest.mark.parametrize("launcher, signum, group", [
    ("basic", signal.SIGTERM, False),
    ("joblib", signal.SIGTERM, True),
    ("joblib", signal.SIGINT, True),
])
def test_a_stopped_sweep_keeps_its_finished_jobs(tmp_path, launcher, signum, group):
    models, runs = tmp_path / "models", tmp_path / "runs"
    extra = ["hydra/launcher=joblib"] if launcher == "joblib" else []
    run = start("train", *SWEEP, *extra, f"paths.models_dir={models}", f"paths.runs_dir={runs}")
    finished = lambda: list(runs.glob("train-multirun/*/*/model_dir.txt"))  # noqa: E731
    wait_until(lambda: finished(), run, what="the first job to finish")
    send(run, signum, group)
    code, lines = finish(run)

    assert code == EXIT[signum] and len(lines) == 1, lines
    [sweep] = runs.glob("train-multirun/*")
    assert re.fullmatch(rf"{LINE_START[signum]}(sweep job \d+: .*; )?the sweep's finished jobs keep their run "
                        rf"folders and models, and a stopped job saved its whole model or none; no leaderboard was "
                        rf"written \(python -m pipeline\.leaderboard {sweep} makes one\)", lines[0]), lines[0]
    assert not (sweep / "leaderboard.md").exists()
    assert_no_process_left(run.pid)
    # Each job saved its whole model or none: every finished job's model, and at most one more per
    # worker from a job stopped between saving its model and writing its model_dir.txt.
    saved = sorted(Path(p.read_text().strip()).name for p in sweep.glob("*/model_dir.txt"))
    visible = sorted(p.name for p in visible_models(models))
    assert saved and set(saved) <= set(visible)
    assert len(visible) - len(saved) <= (2 if launcher == "joblib" else 1), visible
    assert_models_whole(models)
    assert hidden_leftovers(sweep) == []
    assert len(saved) < 5, "the sweep went on after the signal"


def _a_worker_handing_back_a_big_result(results, job_ended) -> None:
    from pipeline.common.errors import reports_errors

    reports_errors(lambda: None)()  # a launcher's job has ended in this worker
    job_ended.set()
    results.put(b"x" * 5_000_000)  # far more than a pipe holds: it blocks until the launcher reads
    time.sleep(60)  # then idle, as a worker waiting for its next job


def test_a_worker_stopped_while_it_hands_back_a_result_sends_all_of_it_then_ends():
    """A sweep's SIGTERM can reach a worker halfway through sending a finished job's result: killed
    there, it would leave the launcher's pool waiting for the rest of the message forever."""
    import multiprocessing
    import threading

    context = multiprocessing.get_context("spawn")
    results, job_ended = context.SimpleQueue(), context.Event()
    worker = context.Process(target=_a_worker_handing_back_a_big_result, args=(results, job_ended))
    worker.start()
    try:
        assert job_ended.wait(60) and results._reader.poll(60)  # the result is on its way
        os.kill(worker.pid, signal.SIGTERM)
        received = []
        reader = threading.Thread(target=lambda: received.append(results.get()), daemon=True)
        reader.start()
        reader.join(30)
        assert received == [b"x" * 5_000_000]
        worker.join(10)
        assert worker.exitcode == 143
    finally:
        worker.kill()


# ---------------------------------------------------------------- a save stopped at any step
@pytest.mark.parametrize("step", ["making its hidden folder", "writing model.joblib", "recording its trust",
                                  "switching latest"])
def test_a_save_stopped_at_any_step_is_all_or_nothing(tmp_path, trained_model, monkeypatch, step):
    import joblib

    from pipeline.artifacts import trust_store
    from pipeline.artifacts.folder import save_model
    from pipeline.common.errors import Terminated

    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "trusted.json"))
    model = load_model(trained_model, trust=True)
    models = tmp_path / "models"
    save_model(model.estimator, model.card, models, "first", skops=False)
    model.estimator.set_params(clf__C=0.123)  # other bytes, another sha256
    real_dump, real_claim, real_replace, real_mkdir = joblib.dump, trust_store.claim, os.replace, Path.mkdir

    def stop(*args, **kwargs):
        raise Terminated

    if step == "making its hidden folder":  # the signal lands the moment the folder exists
        monkeypatch.setattr(Path, "mkdir", lambda path, *a, **k: (real_mkdir(path, *a, **k),
                                                                  path.name.startswith(".tmp-") and stop()))
    elif step == "writing model.joblib":
        monkeypatch.setattr(joblib, "dump", lambda value, target, *a, **k: (real_dump(value, target), stop()))
    elif step == "recording its trust":
        monkeypatch.setattr(trust_store, "claim", lambda *a, **k: (real_claim(*a, **k), stop()))
    else:
        monkeypatch.setattr(os, "replace", lambda src, dst, *a, **k: stop() if Path(dst).name == LATEST
                            else real_replace(src, dst, *a, **k))
    with pytest.raises(Terminated):
        save_model(model.estimator, model.card, models, "second", skops=False)
    assert visible_models(models) == [models / "first"] and hidden_leftovers(models) == []
    assert (models / LATEST).resolve() == (models / "first").resolve()
    assert len(trust_store.trusted_models()) == 1  # the second model's sha256 is not left trusted
    assert load_model(models / LATEST).loaded_with == "joblib"


def test_a_model_is_trusted_before_it_becomes_visible(tmp_path, trained_model, monkeypatch):
    """A sweep's pool kills its other workers outright once one has ended: a save killed just after
    its folder became visible must leave a model this machine loads, not one it refuses."""
    from pipeline.artifacts import trust_store
    from pipeline.artifacts.folder import save_model
    from pipeline.artifacts.weights import sha256_file

    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "trusted.json"))
    model = load_model(trained_model, trust=True)
    models, real_rename, seen = tmp_path / "models", os.rename, []

    def rename(src, dst):
        real_rename(src, dst)
        if Path(dst).parent == models and not Path(dst).name.startswith("."):  # visible now
            seen.append(trust_store.is_trusted(sha256_file(Path(dst) / "model.joblib")))

    monkeypatch.setattr(os, "rename", rename)
    save_model(model.estimator, model.card, models, "visible", skops=False)
    assert seen == [True]


def test_a_signal_whose_cleanup_fails_inside_hydra_still_stops_the_run():
    """SIGTERM between two jobs of a sweep can land inside OmegaConf composing the next config,
    whose own cleanup then raises an error of its own: the run ends as terminated, with its line."""
    from pipeline.common.config import run_hydra_app
    from pipeline.common.errors import Terminated

    def composing_a_config():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(2)  # the handler raises Terminated here
        finally:
            raise AttributeError("'NoneType' object has no attribute '_invalidate_flags_cache'")

    with pytest.raises(Terminated) as stopped:
        run_hydra_app(composing_a_config, lambda: "the sweep's finished jobs keep their run folders")
    assert stopped.value.kept == "the sweep's finished jobs keep their run folders"


def test_a_signal_landing_in_a_weakref_callback_is_not_lost(capsys):
    """Python drops an exception raised inside a finalizer (printing "Exception ignored"): the
    signal is delivered again once the callback has returned."""
    import weakref

    from pipeline.common.errors import Terminated, stopping_signals

    class Thing:
        pass

    def callback(ref):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs here, inside the callback

    with pytest.raises(Terminated):
        with stopping_signals():
            thing = Thing()
            ref = weakref.ref(thing, callback)  # noqa: F841
            del thing
            time.sleep(2)
    assert "Exception ignored" not in capsys.readouterr().err


def test_a_run_stopped_before_its_job_names_the_models_folder_it_was_given(monkeypatch):
    """It named models/latest whatever paths.models_dir said."""
    from pipeline import train

    monkeypatch.setattr(sys, "argv", ["train", "data=seed", "paths.models_dir=/srv/models"])
    assert "/srv/models/latest names the last complete save" in train._outside_a_job()
    monkeypatch.setattr(sys, "argv", ["train"])
    assert "models/latest names the last complete save" in train._outside_a_job()
