"""LaTeX to MathML: the examples and a few hundred test formulas convert; what does not, fails in
one clear line."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from img2tex.errors import FormulaError
from img2tex.mathml import to_mathml
from img2tex.tokenizer import to_readable

MATHML = "{http://www.w3.org/1998/Math/MathML}"


def test_a_fraction_becomes_an_mfrac() -> None:
    root = ET.fromstring(to_mathml(r"x = \frac{-b \pm \sqrt{b^{2} - 4ac}}{2a}"))
    assert root.tag == f"{MATHML}math" and root.get("display") == "block"
    assert root.find(f".//{MATHML}mfrac") is not None and root.find(f".//{MATHML}msqrt") is not None
    assert ET.fromstring(to_mathml("x", display="inline")).get("display") == "inline"


@pytest.mark.parametrize("latex", [r"\frac{", r"\begin{foo} x", r"\left( x"])
def test_what_does_not_convert_fails_in_one_line(latex: str) -> None:
    with pytest.raises(FormulaError, match="cannot convert to MathML: [a-z]") as info:
        to_mathml(latex)
    assert "\n" not in str(info.value)


def test_three_hundred_test_formulas_convert(shared_im2latex) -> None:  # type: ignore[no-untyped-def]
    """Every one converts to well-formed MathML, or fails with a FormulaError (none did when measured)."""
    from img2tex.data.folders import read_formulas_tsv

    formulas = read_formulas_tsv(shared_im2latex / "formulas" / "val_test_normalized_by_idx.tsv", "test")[:300]
    failed = []
    for f in formulas:
        try:
            ET.fromstring(to_mathml(to_readable(f)))
        except FormulaError as exc:
            failed.append((f, str(exc)))
    assert len(failed) <= 3, failed[:3]
