"""The exit-code contract: 0 all well, 1 some inputs failed, 2 usage / configuration / data errors and
anything unexpected (one line, no traceback unless -vv), 130 interrupted."""
import pytest

from nodis import cli
from nodis.errors import DatasetError


def run(capsys, monkeypatch, exc, *argv):
    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "run_info", boom)
    code = cli.main(["info", *argv])
    out, err = capsys.readouterr()
    return code, err


@pytest.mark.parametrize("exc, needle", [
    (DatasetError("the dataset is broken"), "nodis: error: the dataset is broken"),
    (RuntimeError("boom\nsecond line"), "nodis: error: unexpected RuntimeError: boom second line"),
    (ValueError(), "nodis: error: unexpected ValueError ("),
    (PermissionError(13, "Permission denied", "/x/y"), "nodis: error: /x/y: Permission denied"),
    (MemoryError(), "nodis: error: out of memory"),
    (RecursionError("maximum recursion depth exceeded"), "nodis: error: unexpected RecursionError"),
])
def test_every_error_is_one_line_with_exit_code_2(capsys, monkeypatch, exc, needle):
    code, err = run(capsys, monkeypatch, exc)
    assert code == 2 and err.startswith(needle) and err.count("\n") == 1 and "Traceback" not in err


def test_vv_shows_the_traceback(capsys, monkeypatch):
    with pytest.raises(RuntimeError, match="boom"):
        run(capsys, monkeypatch, RuntimeError("boom"), "-vv")
    code, err = run(capsys, monkeypatch, DatasetError("broken"), "-vv")
    assert code == 2 and "Traceback" in err and err.rstrip().endswith("nodis: error: broken")


def test_interrupt_is_130(capsys, monkeypatch):
    code, err = run(capsys, monkeypatch, KeyboardInterrupt())
    assert code == 130 and "interrupted" in err
