"""Every annotation command answers --help without loading scikit-learn, Hydra or datasets."""

import subprocess
import sys

import pytest
from conftest import ROOT

COMMANDS = ["split", "validate", "agreement", "audit", "suggest"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_fast_and_light(command):
    code = (
        f"import sys\nfrom pipeline.{command} import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
        "print('HEAVY', [m for m in ('sklearn', 'hydra', 'datasets', 'omegaconf') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert f"python -m pipeline.{command}" in result.stdout
    assert "HEAVY []" in result.stdout
