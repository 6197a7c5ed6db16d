"""The command line: mistakes said once before any work (exit 2), paths checked, help from the schema."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import kodak

from farside.settings import OPTIONS, Settings, defaults
from farside.synthetic import sequence_start, write_product

CLI = [sys.executable, "-m", "farside"]


def farside(*args: object, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("three")
    return [
        write_product("ce4-pcam-q", kodak(1 + i), folder, shape=(48, 64), start=sequence_start(i))
        for i in range(3)
    ]


def _error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--demosaic", "nope"], "'nope' is not one of"),
        (["--profile", "nope"], "invalid choice: 'nope'"),
        (["--bits", "12"], "12 is not one of 8, 16"),
        (["--format", "jpeg", "--bits", "16"], "JPEG output is 8-bit only"),
        (["--hot-pixel-sigma", "abc"], "'abc' is not a float value"),
        (["--hot-pixel-sigma", "-3"], "is not above 0"),
        (["--stretch", "percentile 9,1"], "tone.low 9.0 is not below tone.high 1.0"),
        (["--white-balance", "manual 1,2"], "manual wants 3 comma-separated numbers"),
        (["--set", "sensor.nope=1"], "unknown profile key 'sensor.nope'"),
        (["--set", "output.bits=9"], "output.bits: 9 is not one of 8, 16"),
        (["--flat", "/no/such/flat.tif"], "/no/such/flat.tif: flat field not found"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_usage_mistakes_are_said_once_before_any_work(three, tmp_path, flags, words):
    out = tmp_path / "out"
    result = farside("convert", *three, "-o", out, *flags)
    assert result.returncode == 2, result.stderr
    lines = _error_lines(result)
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert not out.exists()  # nothing was converted


def test_process_usage_mistakes_and_paths(three, tmp_path):
    missing = farside("process", tmp_path / "no-such-folder", "-o", tmp_path / "out")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = farside("process", empty, "-o", tmp_path / "out")
    assert (
        nothing.returncode == 1 and len(_error_lines(nothing)) == 1 and "no products found" in nothing.stderr
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    unwritable = farside("process", three[0].parent, "-o", blocker / "out")
    assert unwritable.returncode == 2 and "cannot write output here" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr
    bad_flag = farside("process", three[0].parent, "-o", tmp_path / "out", "--bits", "12")
    assert bad_flag.returncode == 2 and len(_error_lines(bad_flag)) == 1
    workers = farside("process", three[0].parent, "-o", tmp_path / "out", "--workers", "0")
    assert workers.returncode == 2 and "not a positive whole number" in workers.stderr


def test_convert_missing_input_and_unwritable_output(three, tmp_path):
    result = farside("convert", three[0], tmp_path / "missing.2BL", "-o", tmp_path / "out")
    assert result.returncode == 2 and "missing.2BL" in result.stderr
    assert not (tmp_path / "out").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = farside("convert", three[0], "-o", blocker)
    assert result.returncode == 2 and "cannot write output here" in result.stderr
    assert len(_error_lines(result)) == 1


def test_fetch_and_index_path_errors(three, tmp_path):
    fetch = farside("fetch", tmp_path / "no-list.txt", "-o", tmp_path / "dl")
    assert fetch.returncode == 2 and "no-list.txt" in fetch.stderr and "Traceback" not in fetch.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    index = farside("index", three[0].parent, "--db", blocker / "catalog.db")
    assert index.returncode == 1 and len(_error_lines(index)) == 1 and "Traceback" not in index.stderr
    ls = farside("ls", "--db", tmp_path / "none.db")
    assert ls.returncode == 2 and "no catalog at" in ls.stderr


def test_the_catalog_is_found_where_index_put_it(three, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "FARSIDE_DB"}
    indexed = farside("index", three[0].parent, cwd=work, env=env)
    assert indexed.returncode == 0, indexed.stderr
    assert (work / "farside.db").is_file()  # one rule: the current folder, unless --db or $FARSIDE_DB
    listed = farside("ls", "--format", "csv", cwd=work, env=env)
    assert listed.returncode == 0 and sum(p.name[:-1] in listed.stdout for p in three) == 3
    processed = farside("process", "--db", "-o", tmp_path / "out", cwd=work, env=env)
    assert processed.returncode == 0, processed.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 3
    elsewhere = tmp_path / "elsewhere.db"
    env["FARSIDE_DB"] = str(elsewhere)
    assert farside("index", three[0].parent, cwd=work, env=env).returncode == 0 and elsewhere.is_file()
    assert farside("ls", cwd=tmp_path, env=env).returncode == 0


def test_help_comes_from_the_schema_with_defaults_and_examples():
    help_text = farside("convert", "--help").stdout
    for option in OPTIONS:
        for flag in (option.flag, option.switch):
            if flag:
                assert flag in help_text
    assert "[default: png]" in help_text and "(png, tiff, jpeg)" in help_text
    assert (
        "examples:" in help_text and "farside convert FRAME.2BL -o out/ --format tiff --bits 16" in help_text
    )
    for command in ("convert", "process", "index", "ls", "fetch", "info", "demo"):
        text = farside(command, "--help").stdout
        assert "examples:" in text
        assert not re.search(r"``|:(func|mod|class):", text), command  # no reStructuredText markup


def test_profile_show_default_is_the_schema():
    shown = farside("profile", "show", "default")
    assert shown.returncode == 0
    assert tomllib.loads(shown.stdout) == {**defaults(), "name": "default"} or tomllib.loads(
        shown.stdout
    ) == {**defaults()}
    # Every option appears with its meaning, and the provenance records exactly the schema's fields.
    for option in OPTIONS:
        assert f"{option.name} = " in shown.stdout and option.help in shown.stdout
    from farside.profiles import load_profile

    recorded = Settings.from_profile(load_profile("ce4-pcam-colour")).to_dict()
    assert set(recorded) == {"profile", "profile_sources"} | {o.field_name for o in OPTIONS}


def test_fetch_says_which_lines_it_skips(tmp_path):
    listing = tmp_path / "downloadResult.txt"
    listing.write_text(
        "header 1\nheader 2\nheader 3\nftp://portal.example/CE4_X.2B\nnot a url\nhttp://127.0.0.1:9/CE4_Y.2B\n"
    )
    result = farside("fetch", listing, "-o", tmp_path / "dl", "--retries", "0")
    assert result.returncode == 1  # the one URL cannot be reached (nothing listens on port 9)
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert (
        len(warnings) == 2 and "line 4" in warnings[0] and "ftp://" in warnings[0] and "line 5" in warnings[1]
    )
    assert "2 lines skipped" in result.stdout and (tmp_path / "dl" / "fetch-report.json").is_file()
