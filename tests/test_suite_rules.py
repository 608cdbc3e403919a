"""The suite's own rules, checked on its source: a test that hangs must fail instead, and a test must
never skip because something the project installs or ships is missing (it fails, so CI sees it).

- every ``subprocess.run/call/check_call/check_output`` passes ``timeout=``, and every
  ``.communicate()`` / ``.wait()`` (Popen, Event, Barrier ...) is given a timeout;
- no ``pytest.importorskip``, ``pytest.skip`` or ``skipif``;
- the per-test timeout is on (pytest-timeout, ``timeout`` in pyproject's pytest options), and a test
  that asks for a longer one says why in the line above its marker.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PROJECT_ROOT = TESTS.parent
_SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output"}
_WAITING_METHODS = {"communicate", "wait"}
_SKIPS = {"importorskip", "skip", "skipif"}


def _test_sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p.resolve() != Path(__file__).resolve())


def _has_timeout(call: ast.Call, positional_slot: int | None) -> bool:
    if any(k.arg == "timeout" for k in call.keywords):
        return True
    return positional_slot is not None and len(call.args) > positional_slot


def violations(source: str, name: str) -> list[str]:
    """Lines of ``source`` that break the rules above, as ``name:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
        method = node.func.attr
        where = f"{name}:{node.lineno}"
        if owner == "subprocess" and method in _SUBPROCESS_CALLS and not _has_timeout(node, None):
            found.append(f"{where}: subprocess.{method} without timeout=")
        elif method in _WAITING_METHODS and owner != "subprocess" and not _has_timeout(
                node, 1 if method == "communicate" else 0):
            found.append(f"{where}: .{method}() without a timeout")
        elif method in _SKIPS and (owner == "pytest" or (isinstance(node.func.value, ast.Attribute)
                                                         and node.func.value.attr == "mark")):
            found.append(f"{where}: {method} (a missing dependency or file must fail, not skip)")
    return found


def test_no_test_can_hang_or_skip_what_the_project_ships():
    problems = [v for path in _test_sources() for v in violations(path.read_text(), str(path.relative_to(TESTS)))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("snippet, rule", [
    ("subprocess.run(['x'], check=True)", "subprocess.run without timeout="),
    ("job.communicate()", ".communicate() without a timeout"),
    ("job.wait()", ".wait() without a timeout"),
    ("pytest.importorskip('mmpose')", "importorskip"),
    ("@pytest.mark.skipif(True, reason='x')\ndef test_x(): pass", "skipif"),
])
def test_the_rules_catch_what_they_name(snippet, rule):
    """The check itself can fail: each forbidden form is reported, its fixed form is not."""
    assert any(rule in v for v in violations(snippet, "t.py")), snippet
    fixed = {"subprocess.run(['x'], check=True)": "subprocess.run(['x'], check=True, timeout=5)",
             "job.communicate()": "job.communicate(timeout=5)", "job.wait()": "job.wait(5)"}
    if snippet in fixed:
        assert not violations(fixed[snippet], "t.py")


def test_every_test_has_a_time_limit_and_longer_ones_say_why():
    options = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < int(options["timeout"]) <= 600
    import pytest_timeout  # noqa: F401  (installed from pyproject's dependencies: missing fails)

    unexplained = []
    for path in _test_sources():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.strip().startswith("@pytest.mark.timeout(") and not lines[number - 1].strip().startswith("#"):
                unexplained.append(f"{path.relative_to(TESTS)}:{number + 1}")
    assert not unexplained, f"a longer time limit needs a comment above it saying why: {unexplained}"
