import subprocess
import sys

from appkit.cli.main import main


def test_unknown_command_is_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "validate" in out and "deploy" in out and "exit codes" in out


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "appkit", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("appkit ")
