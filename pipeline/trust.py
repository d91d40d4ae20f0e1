"""Which model files may run as code on this machine: the local trust store.

A model.joblib file is a pickle, and loading a pickle runs whatever code it names. Models
trained here are recorded (sha256 and folder) in a trust store that lives outside every model
folder, so copying a folder in cannot make it trusted. Any other model loads from model.skops,
which only builds checked types (pipeline.model.load_model).

    python -m pipeline.trust DIR [DIR ...]   vouch for models you received and checked
    python -m pipeline.trust --list          what this machine trusts
    python -m pipeline.trust --remove DIR    stop trusting a model

The store is $RHETORIC_TRUST_STORE if set, else $XDG_DATA_HOME/rhetoric-pipeline/trusted.json
(~/.local/share/rhetoric-pipeline/trusted.json).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pipeline.artifacts.trust_store import (
    describe,
    forget,
    record,
    store_path,
    trusted_models,
)
from pipeline.common.errors import ArgumentParser, PipelineError, reports_errors


@reports_errors
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(
        prog="python -m pipeline.trust",
        description="Vouch for model folders you received and checked: their model.joblib may then "
        "be loaded as code on this machine. Models trained here are trusted already.",
    )
    parser.add_argument("folders", nargs="*", metavar="DIR", help="model folders to trust")
    parser.add_argument("--list", action="store_true", help="list the trusted models")
    parser.add_argument("--remove", action="store_true",
                        help="stop trusting the given folders (or a sha256 that --list shows)")
    args = parser.parse_args(argv)
    if args.list:
        if args.folders or args.remove:
            parser.error("--list takes no model folders and no --remove")
        entries = sorted(trusted_models().items(), key=lambda item: item[1].get("added", ""))
        for sha256, entry in entries:
            print(f"{sha256}  {entry.get('how', '?'):8}  {entry.get('added', '?')}  {entry.get('path', '?')}")
        if not entries:
            print(f"no trusted models in {store_path()}", file=sys.stderr)
        return
    if not args.folders:
        parser.error("give model folders to trust, or --list")
    from pipeline.artifacts.folder import checked_card

    if args.remove:
        for name in args.folders:
            print(_forget(name))
        return
    checked = [(Path(name), *checked_card(Path(name))) for name in args.folders]  # all, before trusting one
    for folder, card, sha256 in checked:
        print(describe(folder.resolve(), card))
        record(sha256, folder, "vouched")
        print(f"trusted: {sha256} recorded in {store_path()}")


def _forget(name: str) -> str:
    """Stop trusting a folder's model: its card's sha256 and whatever was recorded at the folder, so
    a folder whose model.joblib changed, or that is gone, can still be removed; or a sha256 --list shows."""
    from pipeline.artifacts.folder import check_model_folder, unchecked_card

    folder, sha256, problem = Path(name), None, None
    if folder.exists():
        check_model_folder(folder)
        try:
            sha256 = unchecked_card(folder).get("sha256")
        except PipelineError as exc:  # no card to read: only what was recorded at the folder goes
            problem = exc
    elif re.fullmatch(r"[0-9a-f]{64}", name):
        sha256, folder = name, None
    shown = name if folder is None else folder.resolve()
    if forget(sha256, folder):
        return f"no longer trusted: {shown}"
    if problem is not None:
        raise problem
    if sha256 is None and not folder.exists():
        raise PipelineError(f"model folder not found: {name} (nor is a model recorded there: see --list)")
    return f"was not trusted: {shown}"


if __name__ == "__main__":
    main()
