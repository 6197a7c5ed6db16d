"""Mutation fuzzing: ``farside.read``, the PDS4 and PDS3 label parsers and the download-list parser give a
result or a ``FarsideError`` for any input; never another exception, a hang or memory far beyond the input.

The generator is ``benchmarks/fuzz.py`` (run it with ``--count 200000`` for the long run); here a few thousand
fixed cases run in-process, each under an alarm and ``tracemalloc``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from farside.errors import FarsideError
from farside.products.label import array_spec, parse_xml, to_dict
from farside.products.meta import meta_from_pds3, meta_from_pds4
from farside.products.pds3 import flat_keywords, pds3_array_spec, read_attached_label

_SPEC = importlib.util.spec_from_file_location(
    "farside_fuzz", Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz.py"
)
fuzz = importlib.util.module_from_spec(_SPEC)
sys.modules["farside_fuzz"] = fuzz  # dataclasses look their module up by name
_SPEC.loader.exec_module(fuzz)

READ_CASES = 2500
LIST_CASES = 300
LABEL_CASES = 3000
MAX_FAILURES = 5  # stop early (a hang costs its whole timeout)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return fuzz.build_templates(tmp_path_factory.mktemp("templates"))


def _failures(cases, workdir: Path, timeout: float) -> list[str]:
    failures = []
    for case in cases:
        outcome = fuzz.run_case(case, workdir, timeout)
        if outcome.failed():
            failures.append(outcome.describe())
            if len(failures) == MAX_FAILURES:
                break
    return failures


def test_read_gives_a_product_or_a_farside_error(templates, tmp_path):
    cases = [fuzz.make_case(1, i, templates, download_share=0.0) for i in range(READ_CASES)]
    kinds = {case.kind for case in cases}
    assert kinds == set(templates)
    failures = _failures(cases, tmp_path, timeout=10.0)
    assert not failures, "\n".join(failures)


def test_download_list_gives_urls_or_a_farside_error(templates, tmp_path):
    cases = [fuzz.make_case(2, i, templates, download_share=1.0) for i in range(LIST_CASES)]
    failures = _failures(cases, tmp_path, timeout=1.0)
    assert not failures, "\n".join(failures)


def test_label_parsers_give_a_result_or_a_farside_error(templates):
    escapes = []
    for kind, raw, pds3 in fuzz.label_mutations(3, LABEL_CASES, templates):
        name = f"{kind}.2BL"
        try:
            if pds3:
                keywords, _ = read_attached_label(name, raw)
                flat = flat_keywords(keywords)
                meta_from_pds3(flat, name).to_dict()
                pds3_array_spec(keywords, name)
            else:
                root = parse_xml(raw, name)
                to_dict(root)
                meta_from_pds4(root, name).to_dict()
                array_spec(root, name)
        except FarsideError as exc:
            assert "\n" not in str(exc), str(exc)
        except Exception as exc:
            escapes.append(f"{kind}: {type(exc).__name__} at {fuzz._location(exc)}: {exc}")
    assert not escapes, "\n".join(escapes[:MAX_FAILURES])


def test_generator_is_deterministic(templates):
    first = fuzz.make_case(5, 123, templates)
    again = fuzz.make_case(5, 123, templates)
    assert (first.mutations, first.files, first.target) == (again.mutations, again.files, again.target)


def test_generator_reaches_every_family(templates):
    mutations = [m for i in range(3000) for m in fuzz.make_case(0, i, templates).mutations]
    families = {m.split(":")[0].split("=")[0].split("+")[0] for m in mutations}
    expected = {
        "flip",
        "truncate-label",
        "delete-element",
        "number",
        "huge",
        "data_type",
        "hostile",
        "file_name",
        "nesting",
        "nest-parens",
        "nest-objects",
        "fifo-label",
        "fifo-data",
        "dir-label",
        "loop-data",
        "keyword",
        "unicode-digits",
        "axes-count",
        "time",
        "bloat",
    }
    assert expected <= families, expected - families
