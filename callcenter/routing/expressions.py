"""Which agents a task queue selects, written as a TaskRouter-style worker expression.

Admins type these expressions into the queue form and the API, so a bad one must be refused
there, before it is saved, with the 0-based character offset of the problem and a sentence a
person can act on: `at 14: expected a quoted value after HAS`. `parse` does that and returns an
`Expression` compiled once into closures, because `Expression.matches` runs for every agent
(10,000 agents × each queue) whenever queue membership is recomputed.

The syntax is a subset of Twilio TaskRouter's worker expressions, so that admins who know
TaskRouter can reuse what they wrote there:

- `skills HAS "billing"`, `skills CONTAINS "billing"`, `"billing" IN skills`, and the same for
  `languages`; `skills IN ["billing", "sales"]` (any of them), `skills NOT IN [...]` (none of
  them), `"billing" NOT IN skills`;
- `skill_levels.billing >= 2` with `==`, `!=`, `>`, `>=`, `<`, `<=` against a whole number, on
  either side; a skill the agent lacks makes the comparison false, whatever the operator;
- `AND` / `&&` binds tighter than `OR` / `||`; `NOT` negates the condition after it;
  parentheses group;
- `1==1`, `true` and the empty text select everyone (comparing two numbers gives a constant).

Keywords and attribute names are case-insensitive. Values are quoted with `"` or `'` and are
names of letters, digits, `_` and `-`, compared in lower case, as are the agent's skills and
languages. Not supported from TaskRouter: other attributes, floats, booleans in comparisons,
string equality.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_LENGTH = 1000
MAX_DEPTH = 20

_KNOWN_ATTRIBUTES = "skills, languages, skill_levels.<skill>"
_LEVEL_PREFIX = "skill_levels."
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<number>-?[0-9]+(?:\.[0-9]*)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.-]*)
    | (?P<string>"[^"]*"|'[^']*')
    | (?P<op>==|!=|>=|<=|>|<)
    | (?P<logic>&&|\|\|)
    | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "has", "contains", "in", "true"})
# Characters people type from other languages' syntax, with what to write instead.
_HINTS = {
    "=": " (compare with ==)",
    "&": " (join conditions with AND or &&)",
    "|": " (join conditions with OR or ||)",
    "!": " (negate with NOT, or compare with !=)",
}
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
# `2 <= skill_levels.x` reads as `skill_levels.x >= 2`.
_MIRROR = {"==": "==", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
_OPERATORS = "==, !=, >, >=, < or <="


class ExpressionError(ValueError):
    """An expression refused, with where (0-based offset into the text) and why.

    The form and the API show `str(error)`; `position` lets the form point at the character.
    """

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(position, reason)
        self.position = position
        self.reason = reason

    def __str__(self) -> str:
        return f"at {self.position}: {self.reason}"


# --- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    # "number", "word", "string", "op", a keyword ("and", "has", ...), a bracket, "," or "end"
    kind: str
    start: int
    text: str
    value: Any = None  # int for numbers, the lower-cased name for strings and words

    def shown(self) -> str:
        """The token as messages quote it: keywords in capitals, the rest (`&&`) as typed."""
        if self.kind == "end":
            return "the end of the text"
        if self.kind in _KEYWORDS and self.text.isalpha():
            return f"'{self.kind.upper()}'"
        return f"'{self.text}'"


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _bad_character(text, position)
        kind = match.lastgroup
        raw = match.group()
        if kind == "number":
            if "." in raw:  # TaskRouter takes floats; skill levels are whole numbers
                raise ExpressionError(position, f"{raw} is not a whole number")
            yield _Token("number", position, raw, int(raw))
        elif kind == "word":
            lowered = raw.lower()
            yield _Token(lowered if lowered in _KEYWORDS else "word", position, raw, lowered)
        elif kind == "string":
            yield _Token("string", position, raw, _name(raw[1:-1], position))
        elif kind == "op":
            yield _Token("op", position, raw)
        elif kind == "logic":
            yield _Token("and" if raw == "&&" else "or", position, raw)
        elif kind == "punct":
            yield _Token(raw, position, raw)
        position = match.end()
    yield _Token("end", len(text), "")


def _bad_character(text: str, position: int) -> ExpressionError:
    """Why no token starts at `position`: an unclosed quote or a character we do not use."""
    character = text[position]
    if character in "\"'":
        return ExpressionError(position, f"unterminated string: the closing {character} is missing")
    shown = f"'{character}'" if character.isprintable() else repr(character)
    return ExpressionError(position, f"unexpected character {shown}{_HINTS.get(character, '')}")


def _name(value: str, position: int) -> str:
    """A skill or language name from the text, lower-cased, or refused at `position`."""
    if not value:
        raise ExpressionError(position, "empty quoted value: name a skill or a language")
    if not _NAME.fullmatch(value):
        raise ExpressionError(
            position,
            f"'{value}' is not a valid name: use only letters, digits, '_' and '-'",
        )
    return value.lower()


# --- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Constant:
    value: bool


@dataclass(frozen=True, slots=True)
class _Overlap:
    """`attribute` (skills or languages) shares a name with `names`; none of them if negated."""

    attribute: str
    names: frozenset[str]
    negated: bool


@dataclass(frozen=True, slots=True)
class _Level:
    skill: str
    operator: str
    number: int


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _All:
    operands: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Any:
    operands: tuple[_Node, ...]


_Node = _Constant | _Overlap | _Level | _Not | _All | _Any


class _Parser:
    """Recursive descent over the tokens; every refusal names the token it stopped at."""

    def __init__(self, text: str) -> None:
        # Read lazily, so the error reported is the first one in the text, tokens or grammar.
        self._source = _tokens(text)
        self._tokens: list[_Token] = []
        self._index = 0
        self._depth = 0

    def parse(self) -> _Node:
        if self._peek().kind == "end":
            return _Constant(True)
        node = self._disjunction()
        token = self._peek()
        if token.kind == ")":
            raise ExpressionError(token.start, "')' without a matching '('")
        if token.kind != "end":
            raise ExpressionError(
                token.start,
                f"unexpected {token.shown()} after a complete condition: "
                "join conditions with AND or OR",
            )
        return node

    def _peek(self) -> _Token:
        if self._index == len(self._tokens):
            self._tokens.append(next(self._source))
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._peek()
        if token.kind != "end":  # stay on the end, however many tokens a refusal asks for
            self._index += 1
        return token

    def _disjunction(self) -> _Node:
        operands = [self._conjunction()]
        while self._peek().kind == "or":
            self._next()
            operands.append(self._conjunction())
        return operands[0] if len(operands) == 1 else _Any(tuple(operands))

    def _conjunction(self) -> _Node:
        operands = [self._unary()]
        while self._peek().kind == "and":
            self._next()
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else _All(tuple(operands))

    def _unary(self) -> _Node:
        token = self._peek()
        if token.kind == "not":
            self._enter(token)
            self._next()
            operand = self._unary()
            self._depth -= 1
            return _Not(operand)
        return self._primary()

    def _enter(self, token: _Token) -> None:
        """Count one more enclosing `(` or NOT, so a hostile text cannot exhaust the stack."""
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExpressionError(
                token.start,
                f"nested too deeply: at most {MAX_DEPTH} parentheses and NOTs "
                "may enclose one another",
            )

    def _primary(self) -> _Node:
        token = self._peek()
        if token.kind == "(":
            return self._group()
        if token.kind == "true":
            self._next()
            return _Constant(True)
        if token.kind == "number":
            return self._number_comparison()
        if token.kind == "string":
            return self._membership()
        if token.kind == "word":
            return self._attribute_comparison()
        if token.kind == "end":
            previous = self._tokens[self._index - 1]
            raise ExpressionError(token.start, f"expected a condition after {previous.shown()}")
        raise ExpressionError(token.start, f"unexpected {token.shown()}")

    def _group(self) -> _Node:
        opening = self._peek()
        self._enter(opening)
        self._next()
        if self._peek().kind == ")":
            raise ExpressionError(
                self._peek().start, "empty parentheses: put a condition between them"
            )
        node = self._disjunction()
        closing = self._next()
        if closing.kind == "end":
            raise ExpressionError(
                closing.start, f"unclosed parenthesis opened at {opening.start}"
            )
        if closing.kind != ")":
            raise ExpressionError(
                closing.start,
                f"expected ')' to close the parenthesis opened at {opening.start}, "
                f"found {closing.shown()}",
            )
        self._depth -= 1
        return node

    def _attribute(self, token: _Token) -> str:
        """`skills`, `languages` or the skill named by `skill_levels.<skill>`, as `.<skill>`."""
        name = token.value
        if name in ("skills", "languages"):
            return name
        if name.startswith(_LEVEL_PREFIX) and len(name) > len(_LEVEL_PREFIX):
            skill = token.text[len(_LEVEL_PREFIX):]
            return "." + _name(skill, token.start + len(_LEVEL_PREFIX))
        if name.rstrip(".") == "skill_levels":
            raise ExpressionError(
                token.start, "skill_levels needs a skill name, as in skill_levels.billing"
            )
        raise ExpressionError(
            token.start, f"unknown attribute '{token.text}' (known: {_KNOWN_ATTRIBUTES})"
        )

    def _attribute_comparison(self) -> _Node:
        subject = self._next()
        attribute = self._attribute(subject)
        verb = self._next()
        if attribute.startswith("."):
            if verb.kind != "op":
                raise ExpressionError(
                    verb.start,
                    f"{subject.text} is a skill level: compare it with {_OPERATORS}, "
                    f"not {verb.shown()}",
                )
            value = self._next()
            if value.kind != "number":
                raise ExpressionError(
                    value.start, f"expected a whole number after '{verb.text}'"
                )
            return _Level(attribute[1:], verb.text, value.value)
        if verb.kind in ("has", "contains"):
            value = self._next()
            if value.kind != "string":
                raise ExpressionError(
                    value.start, f"expected a quoted value after {verb.kind.upper()}"
                )
            return _Overlap(attribute, frozenset({value.value}), negated=False)
        if verb.kind == "in":
            return _Overlap(attribute, self._list(), negated=False)
        if verb.kind == "not" and self._peek().kind == "in":
            self._next()
            return _Overlap(attribute, self._list(), negated=True)
        if verb.kind == "not":
            raise ExpressionError(
                self._peek().start,
                "expected IN after NOT (to negate a condition, put NOT before it)",
            )
        if verb.kind == "op":
            raise ExpressionError(
                verb.start,
                f"{subject.text} is a set of names: use HAS, CONTAINS, IN or NOT IN, "
                f"not '{verb.text}'",
            )
        raise ExpressionError(
            verb.start,
            f"expected HAS, CONTAINS, IN or NOT IN after {subject.text}, found {verb.shown()}",
        )

    def _list(self) -> frozenset[str]:
        opening = self._next()
        if opening.kind != "[":
            raise ExpressionError(
                opening.start,
                f'expected a list such as ["billing", "sales"] after IN, found {opening.shown()}',
            )
        if self._peek().kind == "]":
            raise ExpressionError(self._peek().start, "empty list: name at least one value")
        names = set()
        while True:
            value = self._next()
            if value.kind != "string":
                raise ExpressionError(
                    value.start, f"expected a quoted value in the list, found {value.shown()}"
                )
            names.add(value.value)
            separator = self._next()
            if separator.kind == "]":
                return frozenset(names)
            if separator.kind == "end":
                raise ExpressionError(separator.start, f"unclosed list opened at {opening.start}")
            if separator.kind != ",":
                raise ExpressionError(
                    separator.start,
                    f"expected ',' or ']' in the list opened at {opening.start}, "
                    f"found {separator.shown()}",
                )

    def _membership(self) -> _Node:
        """`"x" IN skills` and `"x" NOT IN skills`."""
        value = self._next()
        verb = self._next()
        negated = verb.kind == "not"
        if negated:
            verb = self._next()
        if verb.kind != "in":
            raise ExpressionError(
                verb.start, f"expected IN or NOT IN after a quoted value, found {verb.shown()}"
            )
        target = self._next()
        if target.kind != "word" or self._attribute(target).startswith("."):
            raise ExpressionError(
                target.start, f"expected skills or languages after IN, found {target.shown()}"
            )
        return _Overlap(target.value, frozenset({value.value}), negated)

    def _number_comparison(self) -> _Node:
        """`1 == 1` (a constant) and `2 <= skill_levels.x`."""
        number = self._next()
        verb = self._next()
        if verb.kind != "op":
            raise ExpressionError(
                verb.start,
                f"expected a comparison ({_OPERATORS}) after {number.text}, found {verb.shown()}",
            )
        other = self._next()
        if other.kind == "number":
            return _Constant(_COMPARE[verb.text](number.value, other.value))
        if other.kind == "word":
            attribute = self._attribute(other)
            if attribute.startswith("."):
                return _Level(attribute[1:], _MIRROR[verb.text], number.value)
            raise ExpressionError(
                other.start,
                f"{other.text} is a set of names: use HAS, CONTAINS, IN or NOT IN, "
                f"not '{verb.text}'",
            )
        raise ExpressionError(
            other.start,
            f"expected a whole number or skill_levels.<skill> after '{verb.text}', "
            f"found {other.shown()}",
        )


# --- compiled form --------------------------------------------------------------------------

# Called with the agent's skills (lower-cased name -> level) and languages (lower-cased).
_Test = Callable[[Mapping[str, int], frozenset[str]], bool]


def _compile(node: _Node) -> _Test:
    """Closures over the tree, so matching an agent walks no tokens and no node types."""
    if isinstance(node, _Constant):
        value = node.value
        return lambda skills, languages: value
    if isinstance(node, _Overlap):
        names = node.names
        if node.attribute == "skills":
            if node.negated:
                return lambda skills, languages: names.isdisjoint(skills)
            return lambda skills, languages: not names.isdisjoint(skills)
        if node.negated:
            return lambda skills, languages: names.isdisjoint(languages)
        return lambda skills, languages: not names.isdisjoint(languages)
    if isinstance(node, _Level):
        skill, compare, number = node.skill, _COMPARE[node.operator], node.number

        def level_test(skills: Mapping[str, int], languages: frozenset[str]) -> bool:
            level = skills.get(skill)
            return level is not None and compare(level, number)

        return level_test
    if isinstance(node, _Not):
        operand = _compile(node.operand)
        return lambda skills, languages: not operand(skills, languages)
    # Pairs of plain calls, nested to the right so the first operand decides first: faster
    # than all()/any() over a generator, which cost more than the tests themselves.
    tests = [_compile(operand) for operand in node.operands]
    join = _both if isinstance(node, _All) else _either
    return functools.reduce(lambda rest, test: join(test, rest), reversed(tests))


def _both(first: _Test, second: _Test) -> _Test:
    return lambda skills, languages: first(skills, languages) and second(skills, languages)


def _either(first: _Test, second: _Test) -> _Test:
    return lambda skills, languages: first(skills, languages) or second(skills, languages)


def _constant(node: _Node) -> bool | None:
    """The value `node` has for every agent, or None when it depends on the agent."""
    if isinstance(node, _Constant):
        return node.value
    if isinstance(node, _Not):
        value = _constant(node.operand)
        return None if value is None else not value
    if isinstance(node, _All | _Any):
        decisive = isinstance(node, _Any)  # True decides an OR, False an AND
        values = [_constant(operand) for operand in node.operands]
        if decisive in values:
            return decisive
        return (not decisive) if all(value is not None for value in values) else None
    return None


# --- the public face ------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed, compiled expression; equal to another when the source text is the same.

    Building one parses `source`, so an `Expression` that exists is always a valid one:
    `Expression(text)` raises `ExpressionError` just as `parse(text)` does.
    """

    source: str
    _tree: _Node = field(init=False, repr=False, compare=False)
    _test: _Test = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.source) > MAX_LENGTH:
            raise ExpressionError(
                MAX_LENGTH, f"the expression is longer than {MAX_LENGTH} characters"
            )
        tree = _Parser(self.source).parse()
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_test", _compile(tree))

    def matches(self, agent: Mapping[str, Any]) -> bool:
        """Whether the queue selects `agent`: `{"skills": {name: level}, "languages": [...]}`.

        A missing `skills` or `languages` is taken as none. Names are compared in lower case.
        """
        skills = {name.lower(): level for name, level in (agent.get("skills") or {}).items()}
        languages = frozenset(language.lower() for language in agent.get("languages") or ())
        return self._test(skills, languages)

    @property
    def selects_everyone(self) -> bool:
        """True for `1==1`, `true`, the empty text and constants combined (`NOT 1==2`).

        The queue then takes every agent, so membership needs no skill data at all.
        """
        return _constant(self._tree) is True


def parse(text: str) -> Expression:
    """The expression `text` describes, or `ExpressionError` with the position and why."""
    return Expression(text)


def skills_named(expression: Expression) -> frozenset[str]:
    """Every skill the expression mentions (lower-cased), to show which skills a queue uses."""
    found: set[str] = set()
    pending: list[_Node] = [expression._tree]
    while pending:
        node = pending.pop()
        if isinstance(node, _Overlap) and node.attribute == "skills":
            found.update(node.names)
        elif isinstance(node, _Level):
            found.add(node.skill)
        elif isinstance(node, _Not):
            pending.append(node.operand)
        elif isinstance(node, _All | _Any):
            pending.extend(node.operands)
    return frozenset(found)


EVERYONE: Expression = parse("1==1")
