"""Synthetic formulas in im2latex-100k's style, written directly in the canonical token form.

Why: the im2latex train split is not available here, so real formulas alone (~90k after
filtering) under-cover the constructs the model meets in im2latex images. A seeded grammar adds
formulas whose token and construct frequencies follow im2latex's, in the exact spelling
`tokenizer.normalize` produces (space-separated tokens, sub/superscripts braced, `\\sin` as
`\\operatorname { s i n }`, arrays with braced cells and a trailing `\\\\`), so they need no
further normalization and cannot disagree with the real data on spelling.

The weight tables below are token counts measured once on the im2latex **validate** formulas
(never the test split), divided by 100; the construct probabilities in `SynthConfig` were tuned so
that `construct_profile` of the synthetic set lands near the validate set's (fractions in ~46% of
formulas, subscripts ~81%, `\\left` pairs ~24%, arrays ~4%, accents ~25%, big operators ~21%).
Only commands of plain LaTeX, amsmath and amssymb are emitted, so every formula compiles.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


def _table(spec: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Parse "tok:weight tok:weight ..." (weights from the validate token counts / 100)."""
    toks: list[str] = []
    weights: list[float] = []
    for item in spec.split():
        tok, _, w = item.rpartition(":")
        toks.append(tok)
        weights.append(float(w))
    return tuple(toks), tuple(weights)


_LOWER = _table(
    "a:38 b:17 c:24 d:20 e:20 f:14 g:19 h:9 i:40 j:21 k:26 l:19 m:27 n:38 o:4 p:26 q:13 "
    "r:26 s:20 t:25 u:9 v:6 w:5 x:46 y:10 z:17"
)
_UPPER = _table(
    "A:24 B:12 C:9 D:12 E:7 F:11 G:9 H:10 I:8 J:8 K:6 L:12 M:12 N:13 O:3 P:9 Q:7 R:13 S:12 T:13 U:5 V:8 W:5 X:8 Y:3 Z:5"
)
_GREEK = _table(
    r"\alpha:22 \beta:13 \gamma:10 \delta:10 \epsilon:8 \varepsilon:3 \zeta:3 \eta:7 \theta:11 "
    r"\vartheta:1 \iota:0.3 \kappa:4 \lambda:13 \mu:36 \nu:18 \xi:7 \pi:6 \rho:9 \varrho:0.4 "
    r"\sigma:12 \tau:8 \phi:16 \varphi:5 \chi:5 \psi:10 \omega:8 \Gamma:6 \Delta:5 \Theta:1.3 "
    r"\Lambda:5 \Xi:0.3 \Pi:1.6 \Sigma:2.5 \Phi:7 \Psi:4 \Omega:5 \ell:2 \hbar:1"
)
# Digits inside numbers other than the first one (the leading digit uses the same table without 0).
_DIGIT = _table("0:51 1:103 2:140 3:22 4:19 5:5 6:5 7:1.5 8:4 9:1.3")
_FRAC_NUM = _table("1:60 2:12 3:8 4:3 i:3 n:2 a:2 k:1")
_FRAC_DEN = _table("2:40 4:12 3:10 8:3 6:2 N:3 n:3 g:2 k:1 x:1")
_INDEX_GREEK = _table(r"\mu:36 \nu:18 \alpha:10 \beta:6 \rho:3 \sigma:3 \lambda:3 \kappa:1 \tau:1")
_INDEX_LATIN = _table("i:40 j:21 k:15 n:12 a:10 b:8 m:8 l:5 p:3 s:3 r:2 t:3 x:3 A:3 I:2 N:2")
_REL = _table(
    r"=:100 \equiv:4 \approx:1.5 \simeq:1 \sim:2 \leq:1 \geq:1 <:2 >:2 \neq:1 "
    r"\rightarrow:2.5 \to:1.2 \propto:0.4 \in:1.5 \longrightarrow:0.4 \ll:0.2 \gg:0.2"
)
_BINOP = _table(r"+:70 -:70 \pm:4 \mp:1 \times:1.5 \cdot:3 \otimes:1.5 \oplus:0.5 \wedge:1.5 \ast:0.5")
_FUNC = _table("exp:24 ln:20 sin:17 cos:16 log:11 cosh:8 sinh:7 tan:2.5 tanh:2.5 coth:1.4 cot:1 dim:1")
_LIMFUNC = _table("lim:8 det:6 min:1 max:1 sup:0.5 inf:0.5")
_RMWORD = _table("Tr:9 tr:5 eff:3 det:2 Im:2 Re:2 diag:2 const:1 sgn:1 tot:0.5 min:0.5 max:0.5")
_RMTEXT = _table("and:3 for:2 or:1 with:0.5 where:0.5 if:0.5")
_ACCENT = _table(
    r"\bar:12 \tilde:9 \hat:8.5 \vec:5.5 \dot:5.5 \overline:3.4 \widetilde:1.5 \ddot:0.5 "
    r"\widehat:0.7 \underline:1 \check:0.3"
)
_SPACE = _table(r"\,:39 \;:21 \quad:7 \qquad:4 ~:10 \!:4 \::2")
_SYMBOL = _table(
    r"\partial:20 \infty:6 \nabla:3 \dagger:3 \cdots:2.6 \ldots:2.3 \dots:1 \ell:2 \hbar:1.8 "
    r"\prime:0.5 \star:0.6 \circ:0.7"
)
_BIGOP = _table(r"\sum:10 \int:12 \prod:1.7 \oint:0.6")


@dataclass(frozen=True)
class SynthConfig:
    """Shape knobs of the grammar; the defaults match im2latex-100k validate statistics."""

    max_tokens: int = 150
    min_tokens: int = 8
    p_equation: float = 0.95  # formula has a relation (=, \\equiv, ...); im2latex: 88% have "="
    p_second_clause: float = 0.15  # ", \\quad a = b" style second equation
    p_trailing_punct: float = 0.42  # final "," or "." (often after a space command)
    p_fraction: float = 0.075  # per factor
    p_sqrt: float = 0.012
    p_bigop: float = 0.03
    p_paren_group: float = 0.10
    p_function: float = 0.02
    p_array: float = 0.035  # per formula
    p_accent: float = 0.04
    p_subscript: float = 0.30
    p_superscript: float = 0.20
    p_font: float = 0.028
    p_space: float = 0.12  # before a binary operator
    max_depth: int = 3


class _Grammar:
    """One generator run: the RNG and the config; methods return token lists."""

    def __init__(self, cfg: SynthConfig, rng: random.Random) -> None:
        self.cfg = cfg
        self.rng = rng

    # -- small helpers -------------------------------------------------------------------------
    def pick(self, table: tuple[Sequence[str], Sequence[float]]) -> str:
        return self.rng.choices(table[0], table[1])[0]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    @staticmethod
    def braced(toks: list[str]) -> list[str]:
        return ["{", *toks, "}"]

    def letter(self) -> str:
        r = self.rng.random()
        if r < 0.52:
            return self.pick(_LOWER)
        if r < 0.76:
            return self.pick(_UPPER)
        return self.pick(_GREEK)

    def number(self) -> list[str]:
        r = self.rng.random()
        if r < 0.75:
            return [self.pick(_DIGIT)]
        if r < 0.93:
            first = self.rng.choice("123456789")
            return [first] + [self.pick(_DIGIT) for _ in range(self.rng.randint(1, 2))]
        return [self.pick(_DIGIT), ".", *[self.pick(_DIGIT) for _ in range(self.rng.randint(1, 2))]]

    def rmword(self, table: tuple[Sequence[str], Sequence[float]]) -> list[str]:
        return list(self.pick(table))

    # -- scripts ---------------------------------------------------------------------------------
    def index(self) -> list[str]:
        r = self.rng.random()
        if r < 0.30:
            return [self.pick(_INDEX_LATIN)]
        if r < 0.50:
            return [self.pick(_INDEX_GREEK)]
        if r < 0.64:
            return self.number()
        if r < 0.74:
            a = self.pick(_INDEX_GREEK if self.chance(0.5) else _INDEX_LATIN)
            b = self.pick(_INDEX_GREEK if self.chance(0.5) else _INDEX_LATIN)
            return [a, b] if not self.chance(0.3) else [a, ",", b]
        if r < 0.82:
            return [self.pick(_INDEX_LATIN), self.rng.choice("+-"), self.number()[0]]
        if r < 0.85:
            return ["\\mathrm", *self.braced(self.rmword(_RMWORD))]
        if r < 0.92:
            return ["(", *self.number(), ")"] if self.chance(0.5) else ["(", self.pick(_INDEX_LATIN), ")"]
        if r < 0.96:
            return [self.letter(), "_", *self.braced([self.pick(_INDEX_LATIN)])]
        return [self.pick(_INDEX_LATIN), "=", *self.number()]

    def power(self) -> list[str]:
        r = self.rng.random()
        if r < 0.36:
            return self.number()
        if r < 0.42:
            return ["\\prime"] if self.chance(0.85) else ["\\prime", "\\prime"]
        if r < 0.60:
            return ["-", *self.number()]
        if r < 0.72:
            return [self.pick(_INDEX_GREEK)]
        if r < 0.80:
            return [self.pick(_INDEX_LATIN)]
        if r < 0.85:
            return ["\\dagger"] if self.chance(0.6) else ["*"]
        if r < 0.90:
            return ["(", *self.number(), ")"] if self.chance(0.6) else ["(", self.pick(_INDEX_LATIN), ")"]
        if r < 0.95:
            return ["\\frac", "{", self.pick(_FRAC_NUM), "}", "{", self.pick(_FRAC_DEN), "}"]
        return [self.pick(_INDEX_LATIN), self.rng.choice("+-"), self.rng.choice("12")]

    def scripted(self, base: list[str], allow_sub: bool = True) -> list[str]:
        out = list(base)
        if allow_sub and self.chance(self.cfg.p_subscript):
            out += ["_", *self.braced(self.index())]
        if self.chance(self.cfg.p_superscript):
            out += ["^", *self.braced(self.power())]
        return out

    # -- atoms and factors -----------------------------------------------------------------------
    def atom(self) -> list[str]:
        """A letter or symbol with optional scripts, or a bare number (numbers take no subscript)."""
        r = self.rng.random()
        if r < 0.07:
            # function application f ( x ) / \\phi ( x , t ): the commonest use of parentheses
            args = [self.pick(_LOWER)]
            while self.chance(0.3) and len(args) < 7:
                args += [",", self.pick(_LOWER)]
            return [*self.scripted([self.letter()]), "(", *args, ")"]
        if r < 0.82:
            return self.scripted([self.letter()])
        if r < 0.90:
            sym = self.pick(_SYMBOL)
            if sym in ("\\partial", "\\nabla", "\\hbar", "\\ell"):
                return self.scripted([sym])
            return [sym]
        num = self.number()
        if self.chance(0.15):
            num += ["^", *self.braced(self.power())]
        return num

    def accented(self) -> list[str]:
        acc = self.pick(_ACCENT)
        inner = [self.letter()]
        if acc in ("\\overline", "\\underline") and self.chance(0.6):
            # im2latex's normalizer doubles these braces: \\overline { { x } }
            return [acc, "{", *self.braced(inner), "}"]
        if acc in ("\\widetilde", "\\widehat", "\\overline") and self.chance(0.2):
            inner = [self.letter(), self.letter()]
        return [acc, *self.braced(inner)]

    def font(self) -> list[str]:
        r = self.rng.random()
        upper = self.pick(_UPPER)
        if r < 0.40:
            return ["{", "\\cal", upper, "}"]
        if r < 0.55:
            return ["\\mathcal", *self.braced([upper])]
        if r < 0.70:
            return ["{", "\\bf", self.rng.choice([upper, self.pick(_LOWER)]), "}"]
        if r < 0.80:
            return ["\\mathbf", *self.braced([self.rng.choice([upper, self.pick(_LOWER)])])]
        if r < 0.90:
            return ["\\mathrm", *self.braced(self.rmword(_RMWORD))]
        return ["\\mathrm", *self.braced([upper])]

    def function(self, depth: int) -> list[str]:
        if self.chance(0.12):
            name = ["\\operatorname*", *self.braced(list(self.pick(_LIMFUNC)))]
            if self.chance(0.6):
                var = self.pick(_LOWER)
                name += [
                    "_",
                    *self.braced([var, self.rng.choice(["\\rightarrow", "\\to"]), self.rng.choice(["0", "\\infty"])]),
                ]
            return name + self.factor(depth + 1)
        if self.chance(0.15):
            name = ["\\mathrm", *self.braced(self.rmword(_RMWORD))]
        else:
            name = ["\\operatorname", *self.braced(list(self.pick(_FUNC)))]
        if self.chance(0.1):
            name += ["^", "{", "2", "}"]
        r = self.rng.random()
        if r < 0.45:
            return name + ["(", *self.expr(depth + 1), ")"]
        if r < 0.70:
            return name + ["\\left(", *self.expr(depth + 1), "\\right)"]
        if r < 0.80:
            return name + ["[", *self.expr(depth + 1), "]"]
        return name + self.scripted([self.letter()], allow_sub=True)

    def fraction(self, depth: int) -> list[str]:
        r = self.rng.random()
        if r < 0.25:
            num = [self.pick(_FRAC_NUM)]
            den = [self.pick(_FRAC_DEN)]
            if num == den:
                num = ["1"]
        elif r < 0.35:
            var = self.scripted([self.letter()])
            d = self.rng.choice([["\\partial"], ["d"], ["\\delta"]])
            num, den = [*d, *self.scripted([self.letter()], allow_sub=False)], [*d, *var]
            if self.chance(0.4):
                num = d
        else:
            num, den = self.expr(depth + 1, short=True), self.expr(depth + 1, short=True)
        frac = ["\\frac", *self.braced(num), *self.braced(den)]
        return self.braced(frac) if self.chance(0.25) else frac

    def sqrt(self, depth: int) -> list[str]:
        inner = (
            self.expr(depth + 1, short=True) if self.chance(0.5) else self.number() if self.chance(0.5) else ["-", "g"]
        )
        if self.chance(0.08):
            return ["\\sqrt", "[", *self.number(), "]", *self.braced(inner)]
        return ["\\sqrt", *self.braced(inner)]

    def group(self, depth: int) -> list[str]:
        inner = self.expr(depth + 1)
        r = self.rng.random()
        if r < 0.55:
            opened, closed = ["("], [")"]
        elif r < 0.70:
            opened, closed = ["\\left("], ["\\right)"]
        elif r < 0.78:
            opened, closed = ["["], ["]"]
        elif r < 0.85:
            opened, closed = ["\\left["], ["\\right]"]
        elif r < 0.89:
            opened, closed = ["\\{"], ["\\}"]
        elif r < 0.92:
            opened, closed = ["\\left\\{"], ["\\right\\}"]
        elif r < 0.95:
            opened, closed = ["|"], ["|"]
        elif r < 0.97:
            opened, closed = ["\\langle"], ["\\rangle"]
        elif r < 0.985:
            big = self.rng.choice(["\\big", "\\Big", "\\bigg"])
            opened, closed = [big, "("], [big, ")"]
        else:
            opened, closed = ["\\left."], ["\\right|"]
            return [*opened, *inner, *closed, "_", *self.braced(self.index())]
        out = [*opened, *inner, *closed]
        if self.chance(0.22):
            out += ["^", *self.braced(self.power())]
        return out

    def bigop(self, depth: int) -> list[str]:
        op = self.pick(_BIGOP)
        out = [op]
        if op == "\\int" or op == "\\oint":
            r = self.rng.random()
            if r < 0.45:
                lo = self.rng.choice([["0"], ["-", "\\infty"], [self.pick(_LOWER)], ["1"]])
                hi = self.rng.choice([["\\infty"], ["1"], [self.pick(_LOWER)], ["2", "\\pi"], ["t"]])
                out += ["_", *self.braced(lo), "^", *self.braced(hi)]
            elif r < 0.65:
                out += ["_", *self.braced([self.rng.choice(["M", "0", "\\Sigma", "C", "V"])])]
            body = self.term(depth + 1)
            var = self.rng.choice(["x", "t", "k", "r", "\\tau", "s", "z", "y", "p"])
            measure = ["d", var]
            if self.chance(0.2):
                measure = ["d", "^", "{", self.rng.choice(["4", "2", "3", "d", "D"]), "}", var]
            return out + (measure + body if self.chance(0.55) else body + measure)
        if self.chance(0.85):
            i = self.pick(_INDEX_LATIN)
            if self.chance(0.55):
                lo = [i, "=", self.rng.choice(["0", "1", "-", "2"])]
                if lo[-1] == "-":
                    lo += ["\\infty"]
                out += [
                    "_",
                    *self.braced(lo),
                    "^",
                    *self.braced([self.rng.choice(["N", "\\infty", "n", "k", "M", "L"])]),
                ]
            else:
                out += ["_", *self.braced([i] if self.chance(0.8) else [i, "\\neq", self.pick(_INDEX_LATIN)])]
        return out + self.term(depth + 1)

    def array(self, depth: int) -> list[str]:
        cols = self.rng.choices([1, 2, 3, 4], [3, 6, 2, 1])[0]
        rows = self.rng.choices([1, 2, 3, 4], [1, 6, 3, 1])[0]
        is_matrix = self.chance(0.2)
        cases = not is_matrix and cols == 2 and self.chance(0.25)
        body: list[str] = []
        for _ in range(rows):
            cells = []
            for c in range(cols):
                if cases and c == 1:
                    cell = ["\\mathrm", *self.braced(self.rmword(_RMTEXT)), "~", *self.relation_short(depth)]
                elif self.chance(0.5):
                    cell = self.atom()
                else:
                    cell = self.expr(depth + 2, short=True)
                cells.append(self.braced(cell))
            for c, cell in enumerate(cells):
                body += cell + (["&"] if c < cols - 1 else [])
            body.append("\\\\")
        if is_matrix:
            env = ["\\begin{matrix}", *body, "\\end{matrix}"]
        else:
            align = self.rng.choice(["c", "l", "r"]) if not self.chance(0.8) else "c"
            spec = ["l", "l"] if cases else [align] * cols
            env = ["\\begin{array}", *self.braced(spec), *body, "\\end{array}"]
        if cases:
            return ["\\left\\{", *env, "\\right."]
        r = self.rng.random()
        if r < 0.6:
            return ["\\left(", *env, "\\right)"]
        if r < 0.75:
            return ["\\left[", *env, "\\right]"]
        if r < 0.82:
            return ["\\left|", *env, "\\right|"]
        return env

    def relation_short(self, depth: int) -> list[str]:
        return [*self.scripted([self.letter()]), self.rng.choice(["=", "<", ">", "\\neq", "\\geq"]), *self.number()]

    def factor(self, depth: int) -> list[str]:
        c = self.cfg
        if depth < c.max_depth:
            r = self.rng.random()
            for p, make in (
                (c.p_fraction, self.fraction),
                (c.p_sqrt, self.sqrt),
                (c.p_bigop, self.bigop),
                (c.p_paren_group, self.group),
                (c.p_function, self.function),
            ):
                if r < p:
                    return make(depth)
                r -= p
        r = self.rng.random()
        if r < c.p_accent:
            return self.scripted(self.accented())
        r -= c.p_accent
        if r < c.p_font:
            return self.scripted(self.font())
        return self.atom()

    def term(self, depth: int, short: bool = False) -> list[str]:
        n = self.rng.choices([1, 2, 3, 4], [6, 4, 2, 0.5] if not short else [8, 3, 0.5, 0])[0]
        out: list[str] = []
        if self.chance(0.12):
            out += self.number()
        for _ in range(n):
            out += self.factor(depth)
            if self.chance(0.015):
                out.append(self.rng.choice(["\\cdots", "\\ldots"]))
        return out

    def expr(self, depth: int, short: bool = False) -> list[str]:
        n = self.rng.choices([1, 2, 3, 4], [6, 4, 1.5, 0.5] if not short else [8, 2, 0.3, 0])[0]
        out: list[str] = ["-"] if self.chance(0.1) else []
        for i in range(n):
            if i:
                if self.chance(self.cfg.p_space):
                    out.append(self.pick(_SPACE))
                out.append(self.pick(_BINOP))
            out += self.term(depth, short)
        return out

    def clause(self) -> list[str]:
        if self.chance(self.cfg.p_array):
            lhs = self.scripted([self.letter()]) if self.chance(0.7) else []
            rhs = self.array(1)
            return (lhs + ["="] + rhs) if lhs else rhs
        out = self.expr(0)
        if self.chance(self.cfg.p_equation):
            out += [self.pick(_REL), *self.expr(0)]
            if self.chance(0.12):
                out += ["=", *self.expr(0)]
        return out

    def formula(self) -> list[str]:
        out = self.clause()
        while self.chance(self.cfg.p_second_clause):
            out += [",", self.rng.choice(["\\quad", "\\qquad", "\\;", "~", "\\,"]), *self.clause()]
        if self.chance(self.cfg.p_trailing_punct):
            if self.chance(0.35):
                out.append(self.pick(_SPACE))
            out.append(self.rng.choice([",", ",", "."]))
        return out


def generate(n: int, seed: int = 0, cfg: SynthConfig | None = None) -> list[str]:
    """Return `n` distinct synthetic formulas (canonical space-joined tokens), same list for same seed.

    Formulas outside [min_tokens, max_tokens] tokens or already produced are redrawn, so the
    output never repeats itself (a repeated formula would only teach the model to memorise).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    cfg = cfg or SynthConfig()
    grammar = _Grammar(cfg, random.Random(seed))
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 20 * n + 1000:
            raise RuntimeError("synthetic grammar cannot produce enough distinct formulas")
        toks = grammar.formula()
        if not cfg.min_tokens <= len(toks) <= cfg.max_tokens:
            continue
        text = " ".join(toks)
        if text in seen:
            continue
        seen.add(text)
        out.append(text)
    return out


_GREEK_NAMES = frozenset(_GREEK[0]) | {"\\varpi", "\\varsigma", "\\upsilon", "\\Upsilon"}
_ACCENT_NAMES = frozenset(_ACCENT[0]) | {"\\acute", "\\grave", "\\breve"}
_BIGOP_NAMES = frozenset(_BIGOP[0]) | {"\\bigcup", "\\bigcap", "\\bigoplus", "\\bigotimes", "\\iint"}
_SPACE_NAMES = frozenset(_SPACE[0]) | {"\\ "}

#: Construct -> test on a formula's token set; used to compare synthetic and real mixes.
CONSTRUCTS: dict[str, Callable[[frozenset[str]], bool]] = {
    "fraction": lambda t: "\\frac" in t,
    "subscript": lambda t: "_" in t,
    "superscript": lambda t: "^" in t,
    "left_right": lambda t: any(x.startswith("\\left") and not x[5:6].isalpha() for x in t),
    "array": lambda t: "\\begin{array}" in t or "\\begin{matrix}" in t,
    "accent": lambda t: bool(_ACCENT_NAMES & t),
    "greek": lambda t: bool(_GREEK_NAMES & t),
    "big_operator": lambda t: bool(_BIGOP_NAMES & t),
    "mathrm": lambda t: "\\mathrm" in t or "\\rm" in t,
    "calligraphic": lambda t: "\\cal" in t or "\\mathcal" in t,
    "bold": lambda t: bool({"\\bf", "\\mathbf", "\\bm", "\\boldmath", "\\boldsymbol"} & t),
    "spacing": lambda t: bool(_SPACE_NAMES & t),
    "prime": lambda t: "\\prime" in t or "'" in t,
    "sqrt": lambda t: "\\sqrt" in t,
    "operatorname": lambda t: "\\operatorname" in t or "\\operatorname*" in t,
    "parenthesis": lambda t: "(" in t or "\\left(" in t,
    "bracket": lambda t: "[" in t or "\\left[" in t,
    "relation_eq": lambda t: "=" in t,
}


def construct_profile(formulas: Iterable[str]) -> dict[str, float]:
    """Share of formulas containing each construct, plus token-length quartiles and mean.

    Why: the one number set used both to tune the grammar against im2latex validate formulas and
    to report the mix of a built corpus.
    """
    counts = dict.fromkeys(CONSTRUCTS, 0)
    lengths: list[int] = []
    for f in formulas:
        toks = f.split()
        lengths.append(len(toks))
        tset = frozenset(toks)
        for name, test in CONSTRUCTS.items():
            if test(tset):
                counts[name] += 1
    n = len(lengths)
    if n == 0:
        return {}
    lengths.sort()
    prof = {name: round(c / n, 3) for name, c in counts.items()}
    prof.update(
        len_q25=float(lengths[n // 4]),
        len_median=float(lengths[n // 2]),
        len_q75=float(lengths[(3 * n) // 4]),
        len_mean=round(sum(lengths) / n, 1),
    )
    return prof
