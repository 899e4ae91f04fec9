"""Tokens and canonical form of LaTeX formulas, as im2latex-100k writes them.

The model reads and writes formulas as sequences of the tokens that the dataset's
normalized formulas use (im2markup's KaTeX-based normalization): one letter or digit per
token, control words (``\\frac``), control symbols (``\\,``, ``\\{``, ``\\\\``), and a few
multi-character tokens the dataset keeps whole (``\\left(``, ``\\right\\}``,
``\\begin{array}``, ``\\operatorname*``, ``--``, ``---``). Joining the tokens of a
normalized line with single spaces gives the line back (the token form). To typeset a
token-form formula, write it with `to_latex`: dimensions (``\\hspace { 2 c m }``) and
text-mode arguments (``\\textrm { a n d }``) must lose their spaces there.

One spelling needs care: a control space (``\\ `` in LaTeX) is the token ``"\\"`` — the
space that follows it in a joined string is the separator, exactly as the dataset writes
it (``\\ \\ x`` is two control spaces then ``x``).

`tokenize` accepts both normalized and raw LaTeX (``\\alpha_n^2``, ``x\\over y``,
``\\frac12``); `normalize` brings raw LaTeX to the dataset's canonical form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from img2tex.errors import FormulaError

__all__ = ["tokenize", "normalize", "to_latex", "to_readable", "CONTROL_SPACE"]

CONTROL_SPACE = "\\"
"""The token for a control space ``\\ `` (see the module docstring for why it has no space)."""

# Order matters: the multi-character forms come before the generic control word/symbol.
_TOKEN_RE = re.compile(
    r"""
    (?P<env>\\(?:begin|end)(?![A-Za-z])\s*\{\s*(?P<envname>[A-Za-z]+\*?)\s*\})
  | (?P<delim>\\(?P<side>left|right)(?![A-Za-z])\s*(?P<d>\\[A-Za-z]+|\\[^A-Za-z\s]|[^\s\\{}]))
  | (?P<opstar>\\operatorname\s*\*)
  | (?P<word>\\[A-Za-z]+)
  | (?P<ctlspace>\\(?:\s|$))
  | (?P<symbol>\\.)
  | (?P<dash>---?)
  | (?P<space>\s+)
  | (?P<char>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(formula: str) -> list[str]:
    """Split a formula (normalized or raw LaTeX) into dataset tokens.

    Whitespace only separates tokens; it is never a token itself (a control space is
    the token ``"\\"``). Letters and digits are one token each, so ``cos`` gives three
    tokens, as in the dataset.
    """
    tokens: list[str] = []
    for m in _TOKEN_RE.finditer(formula):
        kind = m.lastgroup
        if kind == "space":
            continue
        if m.group("env") is not None:
            word = "begin" if m.group("env")[1:].lstrip().startswith("begin") else "end"
            tokens.append(f"\\{word}{{{m.group('envname')}}}")
        elif m.group("delim") is not None:
            tokens.append(f"\\{m.group('side')}{m.group('d')}")
        elif m.group("opstar") is not None:
            tokens.append("\\operatorname*")
        elif m.group("ctlspace") is not None:
            tokens.append(CONTROL_SPACE)
        elif m.group("word") is not None:
            tokens.append(m.group("word"))
        elif m.group("symbol") is not None:
            tokens.append(m.group("symbol"))
        elif m.group("dash") is not None:
            tokens.append(m.group("dash"))
        else:
            tokens.append(m.group(0))
    return tokens


# ---------------------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------------------

# Named operators: KaTeX (and so the dataset) writes them as \operatorname{...}; the
# starred ones take limits in display style, like \lim itself.
_OPERATORS = frozenset(
    "arcsin arccos arctan arctg arcctg arg ch cos cosec cosh cot cotg coth csc ctg cth deg "
    "dim exp hom ker lg ln log sec sin sinh sh tan tanh tg th".split()
)
_LIMIT_OPERATORS = frozenset("det gcd inf lim liminf limsup max min Pr sup".split())
# Operators that already take limits in display style: \limits after them changes nothing.
_DISPLAY_LIMITS = frozenset(
    r"\sum \prod \coprod \bigcup \bigcap \bigoplus \bigotimes \bigodot \biguplus \bigvee "
    r"\bigwedge \bigsqcup".split()
)
# Accents: the dataset always braces their argument (\hat N -> \hat { N }).
_ACCENTS = frozenset(r"\hat \bar \tilde \vec \dot \ddot \check \breve \acute \grave \mathring \phantom".split())
# These keep their argument's braces and add a pair (\overline{a} -> \overline { { a } }).
_WRAPPING = frozenset(r"\overline \underline".split())
# Text boxes the dataset writes as \mathrm; only converted when that typesets the same.
_TEXT_BOXES = frozenset(r"\mbox \hbox \text".split())
# Macros whose arguments belong to them when they are themselves an argument
# (\bar \mathcal V is \bar { \mathcal V }): name -> number of arguments.
_ARITY = {
    **dict.fromkeys(
        r"""\mathrm \mathbf \mathit \mathcal \mathsf \mathtt \mathbb \mathfrak \boldsymbol \bm \operatorname
        \operatorname* \sqrt \textrm \textbf \textit \hspace \vspace \hphantom \vphantom \overbrace \underbrace
        \overrightarrow \overleftarrow \widetilde \widehat \mathop""".split(),
        1,
    ),
    **dict.fromkeys(r"\frac \dfrac \tfrac \binom \stackrel \overset \underset".split(), 2),
}
#: Every command of the token form that takes arguments, and how many: the table above plus the
#: accents, the wrapping commands and the text boxes, which take one. The well-formed filter
#: (`decoding.filters`) and CROHME's normalization read it.
ARITY: dict[str, int] = {**_ARITY, **dict.fromkeys(_ACCENTS | _WRAPPING | _TEXT_BOXES, 1)}
_UNITS = frozenset("pt cm mm in em ex bp pc dd cc sp".split())
_DROPPED = frozenset(r"\nonumber \notag".split())
_PLAIN_MATRICES = {r"\matrix": ("", ""), r"\pmatrix": (r"\left(", r"\right)"), r"\cases": (r"\left\{", r"\right.")}
_PLAIN_MATRIX_ENV = {r"\matrix": "matrix", r"\pmatrix": "matrix", r"\cases": "cases"}
_MATRIX_ENVS = {
    "pmatrix": (r"\left(", r"\right)"),
    "bmatrix": (r"\left[", r"\right]"),
    "vmatrix": (r"\left|", r"\right|"),
    "Vmatrix": (r"\left\Vert", r"\right\Vert"),
}
# Characters that look and space the same in text and in \mathrm (no math spacing).
_SAFE_TEXT = re.compile(r"[A-Za-z0-9.()/\[\]]")
# \mbox and \hbox keep their text size inside scripts; \mathrm (and amsmath's \text) shrink.
_FIXED_SIZE_BOXES = frozenset(r"\mbox \hbox".split())


class _Parser:
    """Recursive-descent reader of one formula's tokens that writes the canonical tokens.

    It only understands what changes the canonical form (groups, scripts, \\over, text
    boxes, environments, \\left...\\right); every other token is copied, so unknown macros
    pass through unchanged.
    """

    def __init__(self, tokens: list[tuple[str, bool]], raw: str) -> None:
        self.toks = tokens
        self.pos = 0
        self.raw = raw
        self.plain_cases = False
        # Input already in the dataset's spaced token form: keep the braces it has (so that
        # normalize is idempotent) instead of adding those a raw formula would get.
        self.canonical = False
        self.script_depth = 0

    # -- helpers ------------------------------------------------------------------------
    def error(self, msg: str) -> FormulaError:
        short = self.raw if len(self.raw) <= 60 else self.raw[:57] + "..."
        return FormulaError(f"{msg} in formula {short!r}")

    def peek(self) -> str | None:
        return self.toks[self.pos][0] if self.pos < len(self.toks) else None

    def next(self) -> str:
        if self.pos >= len(self.toks):
            raise self.error("formula ends too early (missing argument or closing brace)")
        tok = self.toks[self.pos][0]
        self.pos += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.peek()
        if got != tok:
            raise self.error(f"expected {tok!r} but found {got!r}" if got else f"missing {tok!r}")
        self.pos += 1

    def group_text(self) -> str:
        """Raw text of a brace group (for \\label{...} and \\begin arguments)."""
        self.expect("{")
        depth, out = 1, []
        while True:
            tok = self.next()
            if tok == "{":
                depth += 1
            elif tok == "}":
                depth -= 1
                if depth == 0:
                    return "".join(out)
            out.append(tok)

    # -- grammar ------------------------------------------------------------------------
    def sequence(self, stop: frozenset[str]) -> list[str]:
        """Tokens up to (not including) a token in `stop`, with \\over-style infixes resolved."""
        parts: list[list[str]] = [[]]
        infix: list[str] = []
        while True:
            tok = self.peek()
            if tok is None or tok in stop or ("\\right" in stop and _is_delim(tok, "\\right")):
                break
            if tok == "}":
                raise self.error("unbalanced braces: unexpected '}'")
            if tok in (r"\over", r"\choose"):
                self.pos += 1
                infix.append(tok)
                parts.append([])
                continue
            if tok == r"\rm":
                self.pos += 1
                body = self.sequence(stop)
                parts[-1] += self.text_box(body, r"\rm")
                continue
            parts[-1] += self.item()
        if not infix:
            return parts[0]
        if len(infix) > 1:
            raise self.error(f"ambiguous use of {infix[1]}")
        name = r"\frac" if infix[0] == r"\over" else r"\binom"
        return [name, *_braced(parts[0]), *_braced(parts[1])]

    def item(self) -> list[str]:
        """One atom with the scripts that follow it (sub before sup, both braced)."""
        if self.peek() in ("_", "^", "'"):
            return self.bare_script()
        base = self.atom()
        sub: list[str] | None = None
        sup: list[str] | None = None
        while True:
            tok = self.peek()
            if tok == "'" and self.canonical:
                break
            if tok == "'":
                primes = []
                while self.peek() == "'":
                    self.pos += 1
                    primes.append(r"\prime")
                if sup is not None:
                    raise self.error("double superscript")
                sup = primes
                if self.peek() == "^":
                    self.pos += 1
                    sup = primes + self.script_arg()
            elif tok in ("_", "^"):
                self.pos += 1
                arg = self.script_arg()
                if tok == "_":
                    if sub is not None:
                        raise self.error("double subscript")
                    sub = arg
                else:
                    if sup is not None:
                        raise self.error("double superscript")
                    sup = arg
            elif tok == r"\limits" and base and base[0] in _DISPLAY_LIMITS | {r"\operatorname*"}:
                self.pos += 1
            else:
                break
        out = list(base)
        if sub is not None:
            out += ["_", "{", *sub, "}"]
        if sup is not None:
            out += ["^", "{", *sup, "}"]
        return out

    def bare_script(self) -> list[str]:
        """A script with no base (at the start of a group): the dataset leaves it unbraced."""
        tok = self.next()
        if tok == "'" and self.canonical:
            return ["'"]
        if tok == "'":  # primes on an empty base: TeX's ' is ^{\prime}, and '' one ^{\prime\prime}
            primes = [r"\prime"]
            while self.peek() == "'":
                self.pos += 1
                primes.append(r"\prime")
            return ["^", "{", *primes, "}"]
        if self.peek() in ("_", "^", None, "}", "&"):
            raise self.error(f"missing argument of {tok!r}")
        return [tok, *self.arg()]

    def script_arg(self) -> list[str]:
        """Content of a script argument, without its braces."""
        self.script_depth += 1
        try:
            return self.unbraced_arg()
        finally:
            self.script_depth -= 1

    def unbraced_arg(self) -> list[str]:
        """An argument's content: a group without its braces, or one atom."""
        if self.peek() in ("_", "^", None, "}", "&"):
            raise self.error("missing argument")
        return self.group_body() if self.peek() == "{" else self.atom()

    def group_body(self) -> list[str]:
        """Content of a brace group, normalized, without the braces."""
        self.expect("{")
        body = self.sequence(frozenset({"}"}))
        self.expect("}")
        return body

    def arg(self) -> list[str]:
        """A macro argument as written: a group keeps its braces, a single token does not."""
        if self.peek() == "{":
            return ["{", *self.group_body(), "}"]
        if self.peek() in (None, "}", "&", "_", "^"):
            raise self.error("missing argument")
        return self.atom()

    def atom(self) -> list[str]:
        tok = self.peek()
        if tok is None or tok in ("_", "^", "'"):
            return []  # a script with no base: TeX puts it on an empty atom
        self.pos += 1
        if tok == "{":
            if self.peek() == r"\rm":
                self.pos += 1
                body = self.sequence(frozenset({"}"}))
                self.expect("}")
                return self.text_box(body, r"\rm")
            self.pos -= 1
            return ["{", *self.group_body(), "}"]
        if _is_delim(tok, "\\left"):
            body = self.sequence(frozenset({"\\right"}))
            right = self.peek()
            if right is None:
                raise self.error(f"{tok} without a matching \\right")
            self.pos += 1
            return [tok, *body, right]
        if _is_delim(tok, "\\right"):
            raise self.error(f"{tok} without a matching \\left")
        if tok.startswith("\\begin{"):
            return self.environment(tok[7:-1])
        if tok.startswith("\\end{"):
            raise self.error(f"{tok} without a matching \\begin")
        if tok in _PLAIN_MATRICES:
            left, right = _PLAIN_MATRICES[tok]
            env = _PLAIN_MATRIX_ENV[tok]
            self.expect("{")
            outer, self.plain_cases = self.plain_cases, tok == r"\cases"
            body = self.rows(frozenset({"}"}))
            self.plain_cases = outer
            self.expect("}")
            wrapped = [f"\\begin{{{env}}}", *body, f"\\end{{{env}}}"]
            return [left, *wrapped, right] if left else wrapped
        if tok in _WRAPPING:
            return [tok, *self.arg()] if self.canonical else [tok, "{", *self.arg(), "}"]
        if tok in _ACCENTS:
            return [tok, "{", *self.unbraced_arg(), "}"]
        if tok in _TEXT_BOXES:
            return self.text_box(self.text_arg(), tok)
        if tok in _TEXT_ARGS and self.peek() == "{":
            return [tok, "{", *self.text_arg(), "}"]  # text mode inside: copied, spaces as '~'
        if tok == r"\label":
            if self.peek() == "{":
                self.group_text()
            else:
                self.next()
            return []
        if tok in _DROPPED:
            return []
        if tok == "$" and self.plain_cases:
            return []  # plain \cases set its second column in text mode; amsmath's is math
        if tok == r"\hskip":
            return self.hskip()
        if tok in _ARITY:
            out = [tok]
            if tok == r"\sqrt" and self.peek() == "[":
                out += self.optional_bracket_arg()
            for _ in range(_ARITY[tok]):
                out += self.arg()
            return out
        if tok[1:] in _OPERATORS and tok.startswith("\\"):
            return [r"\operatorname", "{", *tok[1:], "}"]
        if tok[1:] in _LIMIT_OPERATORS and tok.startswith("\\"):
            return [r"\operatorname*", "{", *tok[1:], "}"]
        return [tok]

    def hskip(self) -> list[str]:
        """\\hskip <dimen> as the dataset writes it: \\hspace { <dimen> } (same glue in math)."""
        start = self.pos
        dimen: list[str] = []
        while self.peek() is not None and (self.peek() in ("+", "-", ".") or self.peek().isdigit()):
            dimen.append(self.next())
        unit = "".join(t for t, _ in self.toks[self.pos : self.pos + 2])
        if not dimen or unit not in _UNITS:
            self.pos = start
            return [r"\hskip"]
        self.pos += 2
        return [r"\hspace", "{", *dimen, *unit, "}"]

    def text_arg(self) -> list[str]:
        """Argument of a text box, with its spaces kept as '~' (text mode keeps spaces)."""
        if self.peek() != "{":
            return self.atom()
        self.expect("{")
        out: list[str] = []
        depth = 1
        while True:
            if self.pos >= len(self.toks):
                raise self.error("unbalanced braces: missing '}'")
            tok, space_before = self.toks[self.pos]
            if space_before and not self.canonical and not (out and out[-1].startswith("\\") and out[-1][1:].isalpha()):
                out.append("~")
            self.pos += 1
            if tok == "{":
                depth += 1
            elif tok == "}":
                depth -= 1
                if depth == 0:
                    return out
            out.append(tok)

    def text_box(self, body: list[str], name: str) -> list[str]:
        """\\mathrm{...} when that typesets like the text box, else the box as written."""
        if name in _FIXED_SIZE_BOXES and self.script_depth:
            safe = False
        else:
            safe = all(_SAFE_TEXT.fullmatch(t) or t == "~" for t in body)
        if name == r"\rm" or safe:
            return [r"\mathrm", "{", *body, "}"]
        if name == r"\rm":
            return [r"\rm", *body]
        return [name, "{", *body, "}"]

    def environment(self, name: str) -> list[str]:
        out = [f"\\begin{{{name}}}"]
        if name in ("array", "tabular"):
            out += self.arg()
        end = f"\\end{{{name}}}"
        out += self.rows(frozenset({end}))
        self.expect(end)
        out.append(end)
        if name in _MATRIX_ENVS:
            left, right = _MATRIX_ENVS[name]
            return [left, r"\begin{matrix}", *out[1:-1], r"\end{matrix}", right]
        return out

    def rows(self, stop: frozenset[str]) -> list[str]:
        """Rows of an alignment: each cell braced, each row ended by \\\\ (as the dataset)."""
        cell_stop = stop | {"&", "\\\\", r"\cr"}
        out: list[str] = []
        row: list[list[str]] = []
        prefix: list[str] = []
        while True:
            while self.peek() == r"\hline" and not row:
                self.pos += 1
                prefix.append(r"\hline")
            cell = self.sequence(cell_stop)
            row.append(cell)
            tok = self.peek()
            if tok == "&":
                self.pos += 1
                continue
            if tok in ("\\\\", r"\cr"):
                self.pos += 1
                opt = self.optional_bracket() if tok == "\\\\" else []
                out += prefix + self.cells(row) + ["\\\\", *opt]
                row, prefix = [], []
                continue
            if tok is None:
                raise self.error("environment without its end")
            if len(row) > 1 or row[0]:
                out += prefix + self.cells(row) + ["\\\\"]
            else:
                out += prefix
            return out

    def cells(self, row: list[list[str]]) -> list[str]:
        canonical = self.canonical
        out: list[str] = []
        for i, cell in enumerate(row):
            if i:
                out.append("&")
            out += _braced(cell) if canonical else ["{", *cell, "}"]
        return out

    def optional_bracket_arg(self) -> list[str]:
        """The [n] of \\sqrt[n]{x}, normalized like a group."""
        self.expect("[")
        body = self.sequence(frozenset({"]"}))
        self.expect("]")
        return ["[", *body, "]"]

    def optional_bracket(self) -> list[str]:
        """A `[6pt]` after \\\\ in an alignment, kept as tokens."""
        if self.peek() != "[":
            return []
        out = []
        while True:
            tok = self.next()
            out.append(tok)
            if tok == "]":
                return out


def _is_delim(tok: str, side: str) -> bool:
    """True for a merged \\left/\\right token such as '\\left(' (not '\\leftarrow')."""
    if not tok.startswith(side) or len(tok) == len(side):
        return False
    rest = tok[len(side) :]
    return rest[0] == "\\" or not rest[0].isalpha()


def _braced(part: list[str]) -> list[str]:
    """A \\frac argument: a part that is already one brace group is not braced again."""
    if part and part[0] == "{" and part[-1] == "}":
        depth = 0
        for i, tok in enumerate(part):
            depth += {"{": 1, "}": -1}.get(tok, 0)
            if depth == 0:
                if i == len(part) - 1:
                    return list(part)
                break
    return ["{", *part, "}"]


_COMMENT_RE = re.compile(r"(?<!\\)((?:\\\\)*)%[^\n]*")


def _lex_for_normalize(raw: str) -> list[tuple[str, bool]]:
    """Tokens with a flag 'whitespace came before it' (text boxes keep their spaces)."""
    out: list[tuple[str, bool]] = []
    space = False
    for m in _TOKEN_RE.finditer(raw):
        if m.lastgroup == "space":
            space = True
            continue
        toks = tokenize(m.group(0))
        for t in toks:
            out.append((t, space))
            space = False
    return out


#: Deepest nesting of { }, \\left \\right and \\begin \\end that `normalize` reads. The parser
#: recurses a few frames per level; real formulas nest under 20 (im2latex-100k's deepest: about 15).
MAX_NESTING = 100


def _nesting_depth(tokens: Iterable[str]) -> int:
    depth = deepest = 0
    for t in tokens:
        if t in ("{", "\\begin") or _is_delim(t, "\\left"):
            depth += 1
            deepest = max(deepest, depth)
        elif t in ("}", "\\end") or _is_delim(t, "\\right"):
            depth -= 1
    return deepest


def normalize(raw: str) -> str:
    """Bring a raw LaTeX formula to the dataset's canonical space-joined token form.

    What changes (none of it changes the typeset result): whitespace becomes single spaces
    between tokens; comments, \\label{...}, \\nonumber and \\notag go; sub- and superscripts
    are always braced and written subscript first; primes become ^ { \\prime }; \\over and
    \\choose become \\frac and \\binom; named operators become \\operatorname{...}; simple
    \\rm, \\mbox, \\hbox and \\text contents become \\mathrm { ... }; accents brace their
    argument; \\matrix, \\pmatrix, \\cases and the *matrix environments become the matrix
    environment the dataset uses, with every cell braced and every row ended by \\\\.

    As in the dataset, a formula that starts with '%' (a commented-out formula in the
    source) is read without that first '%'.

    Deliberate differences from the dataset, which would change the typeset result: a
    \\mbox/\\hbox inside a script, or holding anything but letters, digits and . ( ) / [ ],
    stays a box (math spacing and script size would differ); \\\\[6pt] row gaps and empty
    rows are kept; \\limits stays except after operators that have limits anyway; primes
    stay primes. One known, small difference remains: in math mode TeX adds the italic
    correction after the last letter of \\mathrm{...}, so a converted \\mbox{GeV} can be up to
    1 px wider at 200 dpi (benchmarks/results/normalizer_pixels.md).

    The result is token form; write it with `to_latex` before typesetting it.

    Raises FormulaError for unbalanced braces, \\left without \\right, \\begin without
    \\end, missing arguments and double scripts.

    Idempotent by construction: the form is normalized again until it no longer changes (one
    more pass for almost every formula), so `normalize(normalize(f)) == normalize(f)`. Input
    that one pass lets through but whose result does not parse (``\\operatorname'``) is
    malformed and raises.
    """
    if len(raw) > MAX_FORMULA_CHARS:
        raise FormulaError(f"formula is {len(raw):,} characters long (at most {MAX_FORMULA_CHARS:,})")
    out = _normalize_once(raw)
    for _ in range(MAX_PASSES):
        try:
            again = _normalize_once(out)
        except FormulaError as exc:
            raise FormulaError(f"malformed formula: its normal form does not parse ({exc})") from None
        if again == out:
            return out
        out = again
    raise FormulaError(f"normalization does not settle after {MAX_PASSES} passes: {raw[:60]!r}")


#: Passes `normalize` makes after the first before it gives up on reaching a fixed point.
MAX_PASSES = 4

#: Longest formula `normalize` reads: im2latex's longest are ~1,000 characters; the cap keeps
#: hostile input (100k characters) from costing seconds.
MAX_FORMULA_CHARS = 20_000


def _normalize_once(raw: str) -> str:
    """One normalization pass (see `normalize`)."""
    text = raw.strip()
    if text.startswith("%"):
        text = text[1:]
    text = _COMMENT_RE.sub(lambda m: m.group(1), text)
    tokens = _lex_for_normalize(text)
    depth = _nesting_depth(t for t, _ in tokens)
    if depth > MAX_NESTING:
        raise FormulaError(f"formula nests groups {depth} deep (at most {MAX_NESTING}): {raw[:60]!r}")
    parser = _Parser(tokens, raw)
    parser.canonical = " ".join(tokenize(text)) == text
    try:
        out = parser.sequence(frozenset())
    except RecursionError:  # a backstop: MAX_NESTING keeps real and hostile input well below it
        raise FormulaError(f"formula too deeply nested to read: {raw[:60]!r}") from None
    if parser.peek() is not None:  # pragma: no cover - sequence() stops only at its stops
        raise parser.error(f"unexpected {parser.peek()!r}")
    return " ".join(out)


# Macros whose brace argument is set in text mode, where a space is a space: "\\textrm { a n d }"
# must be written "\\textrm{and}" ("~" stays a space).
_TEXT_ARGS = frozenset(
    r"\mbox \hbox \vbox \text \textrm \textbf \textit \textsf \texttt \textup \textnormal \textsl "
    r"\textsc \emph \fbox \makebox \framebox".split()
)
# Macros whose brace argument is a TeX dimension ("-.15cm"): spaces inside it end the number.
_DIMENSION_ARGS = frozenset(r"\hspace \vspace \kern \mkern \rule \raisebox \vskip \hskip".split())


def to_latex(formula: str) -> str:
    """LaTeX that typesets a token-form formula as meant: dimensions are written unspaced.

    The token form spells ``\\hspace{-.15cm}`` as ``\\hspace { - . 1 5 c m }``, which TeX
    reads as ``-.1`` followed by an illegal unit (and an alignment row end ``\\\\ [ 4 m m ]``
    can even loop). Everything else is the tokens joined by single spaces. Use this on
    model output and before rendering a normalized formula.
    """
    return " ".join(_units(tokenize(formula)))


def _units(toks: list[str]) -> list[str]:
    """Tokens, with text-mode and dimension arguments glued to their macro (see `to_latex`).

    Linear in the number of tokens: brace and bracket partners and the count of control words
    are found once, so hostile input (``\\hspace{`` 3,000 times) costs no more than a formula."""
    close = {"{": _partners(toks, "{", "}"), "[": _partners(toks, "[", "]")}
    words = [0]  # words[j] = control words among toks[:j]
    for t in toks:
        words.append(words[-1] + (t.startswith("\\") and t[1:].isalpha()))
    out: list[str] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        out.append(tok)
        i += 1
        if tok in _TEXT_ARGS and i < len(toks) and toks[i] == "{":
            j = close["{"][i]
            out[-1] += _glue_text(toks[i : j + 1])
            i = j + 1
            continue
        dimension_next = tok in _DIMENSION_ARGS or tok == "\\\\"
        opens = ("[",) if tok == "\\\\" else ("{", "[")
        while dimension_next and i < len(toks) and toks[i] in opens:
            j = close[toks[i]][i]
            if words[j] - words[i] > 0 and tok != r"\raisebox":
                break  # not a plain dimension (e.g. \hspace{\fill}): leave it spaced
            out[-1] += "".join(toks[i : j + 1])
            i = j + 1
            if tok in ("\\\\", r"\raisebox"):
                break
    return out


def _partners(toks: list[str], open_: str, close: str) -> dict[int, int]:
    """Index of each `open_` token -> index of its partner (the last index when it has none)."""
    stack: list[int] = []
    out: dict[int, int] = {}
    for j, t in enumerate(toks):
        if t == open_:
            stack.append(j)
        elif t == close and stack:
            out[stack.pop()] = j
    out.update((j, len(toks) - 1) for j in stack)
    return out


# Spacing of the readable form (`to_readable`): relations and binary operators get a space on
# each side, as people write them; a sign that starts a group or follows an operator is unary.
_RELATIONS = frozenset(
    r"""= < > \leq \geq \le \ge \neq \ne \approx \equiv \sim \simeq \cong \propto \to \rightarrow
    \leftarrow \Rightarrow \Leftarrow \Leftrightarrow \leftrightarrow \longrightarrow \longleftarrow
    \Longrightarrow \Longleftarrow \Longleftrightarrow \mapsto \longmapsto \iff \implies \in \notin \ni
    \subset \subseteq \supset \supseteq \ll \gg \perp \parallel \asymp \doteq \prec \succ \preceq \succeq
    \vdash \models \leqslant \geqslant \lesssim \gtrsim \neq \not= := \coloneqq""".split()
)
_BINARY = frozenset(
    r"""+ - \pm \mp \times \cdot \div \cup \cap \wedge \vee \oplus \otimes \ominus \odot \circ \ast
    \star \setminus \bullet \land \lor \sqcup \sqcap \uplus \wr \amalg""".split()
)
# After these a sign is unary: nothing to its left for it to operate on.
_OPENERS = frozenset(["{", "(", "[", "^", "_", "&", "\\\\", ",", ";", ":", "|", r"\{", r"\langle", r"\lbrace"])
# Alignment marks and row ends read best with a space on each side.
_SPACED = frozenset(["&", "\\\\"])
# Spacing commands read best followed by a space (\, dx).
_SPACING = frozenset([r"\,", r"\;", r"\:", r"\!", r"\quad", r"\qquad", r"\enspace", r"\thinspace"])


def to_readable(formula: str) -> str:
    r"""The LaTeX a person writes for a token-form formula: ``x = \frac{-b \pm \sqrt{b^{2} - 4ac}}{2a}``.

    Only whitespace changes (and text-mode and dimension arguments are glued as in `to_latex`),
    so it typesets exactly as the token form does: in math mode TeX ignores spaces except as the
    end of a control word, and a control word followed by a letter or digit keeps its space.
    Relations and binary operators get a space on each side (a sign that starts a group or
    follows an operator is unary and gets none); commas are followed by a space; alignment marks
    and row ends are spaced; nothing is spaced inside a sub- or superscript, where people write
    ``a_{n-1}`` and ``x^{i,j}``. `tokenize(to_readable(f)) == tokenize(to_latex(f))`.
    """
    units = _units(tokenize(formula))
    out: list[str] = []
    # One entry per open group: "script" (a sub/superscript), "spec" (an environment's column
    # spec, {cc}) or "plain"; nothing is spaced inside the first two.
    groups: list[str] = []
    n_tight = 0  # how many of `groups` are not "plain" (a count: nesting can be deep)
    prev: str | None = None  # the previous unit
    space_after = False  # the previous unit asked for a space before whatever comes next
    for k, unit in enumerate(units):
        tight = n_tight > 0
        nxt = units[k + 1] if k + 1 < len(units) else None
        sep = " " if space_after else ""
        if prev is not None and not tight:
            if (
                unit in _RELATIONS
                or unit in _SPACED
                or unit.startswith("\\end{")
                or unit in _BINARY
                and not _is_unary(prev)
            ):
                sep = " "
            elif (prev.endswith((")", "]")) or prev.startswith("\\right")) and re.match(r"\\[A-Za-z]", unit):
                sep = " " if not unit.startswith(("\\right", "\\end")) else sep  # f(x) \int, not f(x)\int
        if prev is not None and re.search(r"\\[A-Za-z]+$", prev) and unit[:1].isalnum():
            sep = " "  # ends the control word: \alpha x, not \alphax
        if prev is not None and prev.endswith("-") and unit.startswith("-"):
            sep = " "  # "--" "--" joined would read back as "---" "-"
        if prev == CONTROL_SPACE or unit == "}" or prev is None:
            sep = ""  # a control space's own space is already written; nothing before a close
        out.append(sep + (unit + " " if unit == CONTROL_SPACE else unit))
        space_after = False
        if unit == "{":
            groups.append(
                "script" if prev in ("^", "_") else "spec" if (prev or "").startswith("\\begin{") else "plain"
            )
            n_tight += groups[-1] != "plain"
        elif unit == "}" and groups:
            kind = groups.pop()
            n_tight -= kind != "plain"
            word_next = bool(re.match(r"\\[A-Za-z]", nxt or "")) and not (nxt or "").startswith(("\\right", "\\end"))
            outer_tight = n_tight > 0
            space_after = kind == "spec" or (
                not outer_tight and (word_next or (kind == "script" and (nxt or "")[:1].isalpha()))
            )
        elif not tight:
            if unit in _RELATIONS or unit in _SPACED or unit in _SPACING:
                space_after = True
            elif unit.startswith("\\begin{"):
                space_after = nxt != "{"
            elif unit in _BINARY and not _is_unary(prev):
                space_after = True
            elif unit == ",":
                space_after = nxt not in (")", "]") and not (nxt or "").startswith("\\right")
        if nxt is None or nxt == "}" or unit == CONTROL_SPACE:
            space_after = False
        prev = unit
    readable = "".join(out)
    # The rules above keep every token apart; should a joining ever read back differently, the
    # plain form is the safe answer (it is what the tokens mean).
    return readable if tokenize(readable) == tokenize(" ".join(units)) else " ".join(units)


def _is_unary(prev: str | None) -> bool:
    """A sign after `prev` is unary (-b, x^{-1}, a = -1) rather than a binary operator."""
    return (
        prev is None
        or prev in _OPENERS
        or prev in _RELATIONS
        or prev in _BINARY
        or prev.startswith("\\left")
        or prev.startswith("\\begin{")
    )


def _glue_text(toks: list[str]) -> str:
    """Text-mode tokens written without separating spaces, except where TeX needs one
    (after a control word followed by a letter, and for a control space)."""
    parts: list[str] = []
    prev = ""
    for tok in toks:
        if tok == CONTROL_SPACE:
            tok = "\\ "
        if tok[:1].isalpha() and _CONTROL_WORD.fullmatch(prev):
            parts.append(" ")
        parts.append(tok)
        prev = tok
    return "".join(parts)


_CONTROL_WORD = re.compile(r"\\[A-Za-z]+")
