"""What every command shares: its wrapper in vitspace.errors."""
import subprocess
import sys

import pytest
from support import ROOT


@pytest.mark.slow
def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`python -m vitspace.models --json | head -c 0`: no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "vitspace.models", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes (it imports torch first): its every write hits a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and "Traceback" not in err and "BrokenPipe" not in err, err
