"""Queue expressions: every accepted form picks the right agents, every refusal says where
(a 0-based offset) and why, and no text whatever makes the parser fail any other way."""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.routing.expressions import (
    EVERYONE,
    Expression,
    ExpressionError,
    parse,
    skills_named,
)

# Agents as the routing service hands them over: skill name -> level, language codes.
BILLING_RU = {"skills": {"billing": 3, "support": 1}, "languages": ["en", "ru"]}
SALES_ES = {"skills": {"sales": 7}, "languages": ["es"]}
SENIOR_BILLING = {"skills": {"billing": 9}, "languages": ["en"]}
NOTHING = {"skills": {}, "languages": []}
BLANK: dict[str, Any] = {}  # no skills or languages recorded at all
AGENTS = {
    "billing_ru": BILLING_RU,
    "sales_es": SALES_ES,
    "senior_billing": SENIOR_BILLING,
    "nothing": NOTHING,
    "blank": BLANK,
}

# (expression, the agents it selects); every other agent in AGENTS must be left out.
ACCEPTED = [
    ("", set(AGENTS)),
    ("   \t\n", set(AGENTS)),
    ("1==1", set(AGENTS)),
    ("1 == 1", set(AGENTS)),
    ("true", set(AGENTS)),
    ("1==2", set()),
    ("NOT 1==2", set(AGENTS)),
    ("2 > 1", set(AGENTS)),
    ('skills HAS "billing"', {"billing_ru", "senior_billing"}),
    ("skills HAS 'billing'", {"billing_ru", "senior_billing"}),
    ('skills CONTAINS "billing"', {"billing_ru", "senior_billing"}),
    ('"billing" IN skills', {"billing_ru", "senior_billing"}),
    ('"billing" NOT IN skills', {"sales_es", "nothing", "blank"}),
    ('languages HAS "ru"', {"billing_ru"}),
    ('languages CONTAINS "es"', {"sales_es"}),
    ('"en" IN languages', {"billing_ru", "senior_billing"}),
    ('"en" NOT IN languages', {"sales_es", "nothing", "blank"}),
    ('skills IN ["sales", "support"]', {"billing_ru", "sales_es"}),
    ("skills IN ['sales']", {"sales_es"}),
    ('skills NOT IN ["billing", "sales"]', {"nothing", "blank"}),
    ('languages IN ["ru","es"]', {"billing_ru", "sales_es"}),
    ('languages NOT IN ["en"]', {"sales_es", "nothing", "blank"}),
    ("skill_levels.billing >= 3", {"billing_ru", "senior_billing"}),
    ("skill_levels.billing > 3", {"senior_billing"}),
    ("skill_levels.billing == 3", {"billing_ru"}),
    ("skill_levels.billing != 3", {"senior_billing"}),  # lacking the skill: false
    ("skill_levels.billing < 9", {"billing_ru"}),
    ("skill_levels.billing <= 9", {"billing_ru", "senior_billing"}),
    ("skill_levels.billing>=0", {"billing_ru", "senior_billing"}),
    ("skill_levels.billing > -1", {"billing_ru", "senior_billing"}),
    ("skill_levels.billing < 100", {"billing_ru", "senior_billing"}),
    ("3 < skill_levels.billing", {"senior_billing"}),
    ("9 == skill_levels.billing", {"senior_billing"}),
    ("NOT skill_levels.billing == 3", {"sales_es", "senior_billing", "nothing", "blank"}),
    ('skills HAS "billing" AND languages HAS "ru"', {"billing_ru"}),
    ('skills HAS "billing" && languages HAS "ru"', {"billing_ru"}),
    ('skills HAS "sales" OR languages HAS "ru"', {"billing_ru", "sales_es"}),
    ('skills HAS "sales" || languages HAS "ru"', {"billing_ru", "sales_es"}),
    ('skills HAS "billing" AND skill_levels.billing > 5', {"senior_billing"}),
    ('NOT skills HAS "billing"', {"sales_es", "nothing", "blank"}),
    ('NOT NOT skills HAS "sales"', {"sales_es"}),
    ('NOT (skills HAS "billing" OR skills HAS "sales")', {"nothing", "blank"}),
    # AND binds tighter than OR: this is sales OR (billing AND ru) ...
    ('skills HAS "sales" OR skills HAS "billing" AND languages HAS "ru"',
     {"sales_es", "billing_ru"}),
    # ... and parentheses change that.
    ('(skills HAS "sales" OR skills HAS "billing") AND languages HAS "ru"', {"billing_ru"}),
    ('((skills HAS "sales"))', {"sales_es"}),
    ('1==1 AND skills HAS "sales"', {"sales_es"}),
    ('true OR skills HAS "sales"', set(AGENTS)),
    ('skills HAS "billing" AND (languages HAS "ru" OR skill_levels.billing >= 9)',
     {"billing_ru", "senior_billing"}),
    ('skills HAS "support" AND NOT languages HAS "es" AND skill_levels.support == 1',
     {"billing_ru"}),
]


@pytest.mark.parametrize(("text", "selected"), ACCEPTED, ids=[text for text, _ in ACCEPTED])
def test_accepted_forms_select_the_right_agents(text: str, selected: set[str]):
    expression = parse(text)
    assert expression.source == text
    assert {name for name, agent in AGENTS.items() if expression.matches(agent)} == selected


# (expression, position, a phrase of the reason)
REFUSED = [
    ('languages HAS 3', 14, "expected a quoted value after HAS"),
    ('skills CONTAINS 3', 16, "expected a quoted value after CONTAINS"),
    ('skills HAS ["a"]', 11, "expected a quoted value after HAS"),
    ('skills HAS', 10, "expected a quoted value after HAS"),
    ('skils HAS "billing"', 0,
     "unknown attribute 'skils' (known: skills, languages, skill_levels.<skill>)"),
    ('skills HAS "a" AND team HAS "b"', 19, "unknown attribute 'team'"),
    ('"a" IN skils', 7, "unknown attribute 'skils'"),
    ('skill_levels >= 2', 0, "skill_levels needs a skill name"),
    ('skill_levels. >= 2', 0, "skill_levels needs a skill name"),
    ('skill_levels.a.b >= 2', 13, "'a.b' is not a valid name"),
    ('skills HAS "a" AND (languages HAS "ru"', 38, "unclosed parenthesis opened at 19"),
    ('(skills HAS "a"', 15, "unclosed parenthesis opened at 0"),
    ('(skills HAS "a" "b")', 16, "expected ')' to close the parenthesis opened at 0"),
    ('1==1 AND OR', 9, "unexpected 'OR'"),
    ('1==1 and or', 9, "unexpected 'OR'"),
    ('OR skills HAS "a"', 0, "unexpected 'OR'"),
    ('skills HAS "a" AND', 18, "expected a condition after 'AND'"),
    ('skills HAS "a" ||', 17, "expected a condition after '||'"),
    ('NOT', 3, "expected a condition after 'NOT'"),
    ('(', 1, "expected a condition after '('"),
    ('()', 1, "empty parentheses"),
    ('skills HAS "a" AND ( )', 21, "empty parentheses"),
    ('skills HAS "a")', 14, "')' without a matching '('"),
    ('skills HAS "a" OR )', 18, "unexpected ')'"),
    ('skills HAS "a" "b"', 15, "unexpected '\"b\"' after a complete condition"),
    ('skills HAS "a" languages HAS "b"', 15, "join conditions with AND or OR"),
    ('1==1 1==1', 5, "after a complete condition"),
    ('skills HAS "billing', 11, 'unterminated string: the closing " is missing'),
    ("skills HAS 'billing", 11, "unterminated string: the closing ' is missing"),
    ('skills HAS ""', 11, "empty quoted value"),
    ('skills HAS "bill ing"', 11, "'bill ing' is not a valid name"),
    ('languages HAS "русский"', 14, "is not a valid name"),
    ('skill_levels.billing >= "2"', 24, "expected a whole number after '>='"),
    ('skill_levels.billing >= 2.5', 24, "2.5 is not a whole number"),
    ('skill_levels.billing >= 2.', 24, "2. is not a whole number"),
    ('skill_levels.billing HAS "2"', 21, "skill_levels.billing is a skill level"),
    ('skills >= 2', 7, "skills is a set of names: use HAS, CONTAINS, IN or NOT IN"),
    ('2 <= skills', 5, "skills is a set of names"),
    ('2 <= "a"', 5, "expected a whole number or skill_levels.<skill> after '<='"),
    ('2 HAS skills', 2, "expected a comparison (==, !=, >, >=, < or <=) after 2"),
    ('skills', 6, "expected HAS, CONTAINS, IN or NOT IN after skills"),
    ('skills == "a"', 7, "skills is a set of names"),
    ('skills NOT HAS "a"', 11, "expected IN after NOT"),
    ('skills IN "a"', 10, 'expected a list such as ["billing", "sales"] after IN'),
    ('skills IN []', 11, "empty list"),
    ('skills IN ["a",]', 15, "expected a quoted value in the list"),
    ('skills IN ["a", 2]', 16, "expected a quoted value in the list"),
    ('skills IN ["a"', 14, "unclosed list opened at 10"),
    ('skills IN ["a" "b"]', 15, "expected ',' or ']' in the list opened at 10"),
    ('"a" == "a"', 4, "expected IN or NOT IN after a quoted value"),
    ('"a" IN', 6, "expected skills or languages after IN"),
    ('"a" IN ["a"]', 7, "expected skills or languages after IN"),
    ('"a" IN skill_levels.a', 7, "expected skills or languages after IN"),
    ('skill_levels.a = 2', 15, "unexpected character '=' (compare with ==)"),
    ('skills HAS "a" & skills HAS "b"', 15, "unexpected character '&' (join conditions with AND"),
    ('skills HAS "a" | skills HAS "b"', 15, "unexpected character '|' (join conditions with OR"),
    ('!skills HAS "a"', 0, "unexpected character '!'"),
    ('skills HAS "a" \x00', 15, "unexpected character '\\x00'"),
    ("(" * 21 + "1==1" + ")" * 21, 20, "nested too deeply: at most 20"),
    ("NOT " * 21 + "1==1", 80, "nested too deeply"),
    ("1==1" + " " * 997, 1000, "longer than 1000 characters"),
    # The first problem in the text is the one reported, whichever stage finds it.
    ('skils HAS "bill ing"', 0, "unknown attribute 'skils'"),
]


@pytest.mark.parametrize(("text", "position", "phrase"), REFUSED,
                         ids=[text[:40] for text, _, _ in REFUSED])
def test_refusals_say_where_and_why(text: str, position: int, phrase: str):
    with pytest.raises(ExpressionError) as refused:
        parse(text)
    error = refused.value
    assert (error.position, phrase in error.reason) == (position, True), str(error)
    assert str(error) == f"at {position}: {error.reason}"
    assert isinstance(error, ValueError)  # callers that catch ValueError catch it too


def test_the_limits_themselves_are_accepted():
    assert parse("(" * 20 + "1==1" + ")" * 20).selects_everyone
    assert parse("NOT " * 20 + "1==1").selects_everyone  # an even number of NOTs
    assert parse("1==1" + " " * 996).selects_everyone  # exactly 1000 characters


def test_an_expression_can_only_be_built_valid():
    """`Expression(text)` parses as `parse` does, so a stored invalid one cannot exist."""
    with pytest.raises(ExpressionError):
        Expression('skills HAS "a" AND')
    assert Expression('skills HAS "a"') == parse('skills HAS "a"')
    assert hash(Expression("1==1")) == hash(EVERYONE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        EVERYONE.source = "skills HAS 'a'"  # type: ignore[misc]


@pytest.mark.parametrize("text", [
    'SKILLS has "BILLING" and LANGUAGES contains "RU"',
    'Skills Has "Billing" And "Ru" In Languages',
    "skill_levels.BILLING >= 3 && skills in ['Billing']",
    'NOT skills Not In ["BiLLinG"]',
    "TRUE AND skills HAS 'billing' AND languages HAS 'ru'",
])
def test_keywords_attributes_and_names_ignore_case(text: str):
    expression = parse(text)
    assert expression.matches(BILLING_RU)
    assert not expression.matches(SALES_ES)


def test_the_agents_names_are_compared_in_lower_case_too():
    agent = {"skills": {"Billing": 4}, "languages": ["RU"]}
    assert parse('skills HAS "billing" AND languages HAS "ru"').matches(agent)
    assert parse("skill_levels.billing == 4").matches(agent)


def test_missing_or_null_skills_and_languages_are_none():
    for agent in ({}, {"skills": None, "languages": None}):
        assert not parse('skills HAS "a" OR languages HAS "en"').matches(agent)
        assert parse('skills NOT IN ["a"] AND "en" NOT IN languages').matches(agent)


@pytest.mark.parametrize(("text", "everyone"), [
    ("", True),
    ("  ", True),
    ("1==1", True),
    ("1 == 1", True),
    ("TRUE", True),
    ("(true)", True),
    ("NOT 1==2", True),
    ('true OR skills HAS "a"', True),
    ("true AND 2 >= 1", True),
    ("1==2", False),
    ("NOT true", False),
    ('true AND skills HAS "a"', False),
    ('1==2 OR skills HAS "a"', False),
    ('skills HAS "a"', False),
    ("skill_levels.a >= 0", False),
])
def test_selects_everyone(text: str, everyone: bool):
    assert parse(text).selects_everyone is everyone


def test_everyone_is_one_equals_one():
    assert parse("1==1") == EVERYONE
    assert EVERYONE.selects_everyone
    assert all(EVERYONE.matches(agent) for agent in AGENTS.values())


@pytest.mark.parametrize(("text", "skills"), [
    ("1==1", set()),
    ('languages HAS "ru"', set()),
    ('skills HAS "Billing"', {"billing"}),
    ('"sales" NOT IN skills', {"sales"}),
    ('skills IN ["a", "b"] OR skills NOT IN ["c"]', {"a", "b", "c"}),
    ("skill_levels.tier-2 >= 3", {"tier-2"}),
    ("4 < skill_levels.vip", {"vip"}),
    ('NOT (skills CONTAINS "x" AND (skill_levels.y == 1 OR languages HAS "z"))', {"x", "y"}),
    # Mentioned is mentioned, even where a constant decides the outcome.
    ('true OR skills HAS "unused"', {"unused"}),
])
def test_skills_named(text: str, skills: set[str]):
    assert skills_named(parse(text)) == frozenset(skills)


def test_matching_many_agents_does_not_reparse():
    expression = parse('(skills HAS "billing" AND skill_levels.billing >= 2) OR languages HAS "ru"')
    agents = [{"skills": {"billing": level % 11}, "languages": ["en"]} for level in range(10_000)]
    assert sum(map(expression.matches, agents)) == sum(
        1 for level in range(10_000) if level % 11 >= 2
    )


_agents = st.fixed_dictionaries({
    "skills": st.dictionaries(st.sampled_from(["a", "b", "billing", "B"]),
                              st.integers(min_value=0, max_value=10)),
    "languages": st.lists(st.sampled_from(["en", "ru", "RU"])),
})
# Pieces of the grammar, so the texts reach past the first token as often as not.
_pieces = st.sampled_from([
    "skills", "languages", "skill_levels.a", "skill_levels.", "HAS", "CONTAINS", "IN", "NOT",
    "AND", "OR", "&&", "||", "(", ")", "[", "]", ",", '"a"', "'b'", '"', "1", "-2", "==", ">=",
    "<", "!=", "=", "true", "1==1", "x",
])
_texts = (
    st.text(alphabet=string.printable, max_size=60)
    | st.lists(_pieces, max_size=25).map(" ".join)
    | st.lists(_pieces, max_size=25).map("".join)
    | st.text(max_size=30)
)


@given(text=_texts, agent=_agents)
def test_any_text_parses_or_is_refused_with_a_position_in_it(text: str, agent: dict[str, Any]):
    try:
        expression = parse(text)
    except ExpressionError as error:
        assert 0 <= error.position <= len(text)
        assert error.reason and str(error) == f"at {error.position}: {error.reason}"
    else:
        assert isinstance(expression.matches(agent), bool)
        assert all(name in text.lower() for name in skills_named(expression))


@given(st.text(alphabet=string.printable, min_size=1001, max_size=1100))
def test_long_texts_are_refused_at_the_excess(text: str):
    with pytest.raises(ExpressionError) as refused:
        parse(text)
    assert refused.value.position == 1000
