"""What a blocklist entry matches (bot/blocklist.py), and that RE2 reads moderators' regexes as
Python's `re` did (bot/regex_re2.py), except for what RE2 cannot run at all."""

from __future__ import annotations

import random
import re
import sys

import pytest

from bot.blocklist import Checker, RuleError, checked, compile_rule, normalize, parse_rule
from bot.regex_re2 import SPACES, rewrite


@pytest.mark.parametrize(
    ("entry", "prompt", "hit"),
    [
        ("gun", "a man with a GUN.", True),
        ("gun", "the show has begun", False),
        ("gun", "two guns", False),  # whole words: add `guns` or /guns?/
        ("big cat", "a BIG \n  cat sleeps", True),
        ("big cat", "a BIG\u3000cat", True),  # any Unicode space
        ("big cat", "a bigcat", False),
        ("猫", "一只小猫在跑", True),  # scripts without spaces match anywhere
        ("gun", "a ｇｕｎ in full width", True),  # NFKC
        ("gun", "a g\u200bun split by a zero-width space", True),
        ("gun", "guné", False),  # é is a letter: not a whole word
        ("нож", "большой НОЖ!", True),  # any case, in any script
        ("нож", "ножи", False),
        ("kill", "KİLL", True),  # as Python's re: i, I, İ and ı match one another
        ("/n[a4]ked/", "N4KED truth", True),
        ("/n[a4]ked/", "a clean prompt", False),
        ("/^draw\\b/", "Draw me", True),
        ("/^draw\\b/", "drawn", False),
        ("/\\bнож\\b/", "a НОЖ.", True),  # \b at either end sees letters of every script
        ("/\\bнож\\b/", "ножи", False),
        ("/\\bété\\b/", "l'été", True),
        ("/\\w+ing\\b/", "sneaking", True),
        ("/\\d{3}/", "٣٣٣", True),  # \d is any decimal digit, as in Python
        ("/[^\\W\\d_]+z/", "éz", True),  # letters only
        ("/[^\\W\\d_]+z/", "1z", False),
        ("/[^\\S\\n]x/", "a\u00a0x", True),  # spaces but not a newline
        ("/[^\\S\\n]x/", "a\nx", False),
        ("/end$/", "the end", True),
        ("/(?-i:Gun)/", "gun", False),  # a moderator may ask for exact case
        ("/(?s)a.b/", "a\nb", True),
        ("/(a+)+$/", "aaaa", True),  # refused before, harmless now
        # a regex's characters are normalised as prompts are: typed by an input method...
        ("/１８禁/", "a １８禁 scene", True),
        ("/１８禁/", "a 18禁 scene", True),
        ("/裸体，/", "一个裸体，女人", True),
        ("/ｇｕｎ/", "a GUN", True),
        ("/[ａ-ｚ]+禁/", "abc禁", True),
        ("/[^ａ-ｚ]x/", "ax", False),
        ("/[^ｇ]un/", "gun", False),
        # ... or pasted: ligatures, decomposed accents, zero-width characters
        ("/ﬁre/", "fire", True),
        ("/[ﬁx]y/", "a fiy", True),
        ("/cafe\u0301/", "café", True),  # an é decomposed, as some keyboards and pastes give
        ("/cafe\\u0301/", "café", True),  # the same as a regex escape
        ("/g\u200bun/", "gun", True),
        # full-width syntax characters stay the characters, as Python reads them
        ("/18＋/", "18+", True),
        ("/18＋/", "188", False),
        ("/（猫｜狗）/", "（猫｜狗）", True),
        ("/（猫｜狗）/", "猫", False),
        ("/a＊/", "a*", True),
        ("/a＊/", "b", False),
        # \b in a group at either end, or between known parts, sees every script
        ("/(\\b)x/", "Éx", False),
        ("/(\\b)x/", "a x", True),
        ("/x(\\b)/", "xé", False),
        ("/x(?:a\\b|é\\b)/", "xéa", False),
        ("/x(?:a\\b|é\\b)/", "xé!", True),
        ("/^\\bé/", "été", True),
        ("/\\w+\\b!/", "кот!", True),
        ("/é\\Bx/", "éx", True),
        ("/(?-i:é\\b)x/", "éx", False),
    ],
)
def test_blocklist_matching_rules(entry: str, prompt: str, hit: bool) -> None:
    pattern, is_regex = parse_rule(entry)
    assert compile_rule(pattern, is_regex).search(normalize(prompt)) is hit
    assert (Checker([(pattern, is_regex)]).first_match(prompt) == 0) is hit


def test_safe_regexes_are_accepted() -> None:
    entries = ("/(cat|dog)s?/", "/[a+]+/", r"/\(x+\)+/", "/(?:gore)/", "/blood{2,3}/", "/(a+)+$/")
    for entry in (*entries, "/((ab)*c)+/", r"/\w*\w*\w*z/", "/(?P<g>x)y/", "/(?x) a b # c/"):
        pattern, is_regex = parse_rule(entry)
        assert is_regex and pattern == entry[1:-1]
    assert parse_rule("gore", regex=True) == ("gore", True)
    assert parse_rule("  Big   GUN ") == ("big gun", False)


@pytest.mark.parametrize(
    ("entry", "key", "construct"),
    [
        ("/gun(?!smith)/", "input.regex_unsupported", "(?!...)"),
        ("/(?=x)y/", "input.regex_unsupported", "(?=...)"),
        ("/(?<!a)b/", "input.regex_unsupported", "(?<!...)"),
        ("/(ha)\\1/", "input.regex_unsupported", "\\1"),
        ("/(?P<x>a)(?P=x)/", "input.regex_unsupported", "\\1"),
        ("/(a)?(?(1)b|c)/", "input.regex_unsupported", "(?(...)...)"),
        ("/(?>ab)c/", "input.regex_unsupported", "(?>...)"),
        ("/a++b/", "input.regex_unsupported", "*+"),
        ("/\\w{1001}/", "input.regex_too_complex", None),
        ("/(?:(?:a{10}){10}){11}/", "input.regex_too_complex", None),
        ("/[/", "input.regex_invalid", None),
        ("/a|/", "input.regex_matches_empty", None),
        # what Python's parser raises besides re.error, and entries empty once normalised
        ("/(?a)(?u)a/", "input.regex_invalid", None),
        ("/a{4294967295}/", "input.regex_invalid", None),
        ("/a{99999999999999999999}/", "input.regex_invalid", None),
        ("\u200b", "input.blocklist_empty", None),
        (" \u200b\u2060 ", "input.blocklist_empty", None),
        ("/\u200b/", "input.regex_matches_empty", None),
    ],
)
def test_what_re2_cannot_run_is_refused_with_a_reason(
    entry: str, key: str, construct: str | None
) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(entry)
    assert info.value.message_key == key
    assert info.value.message_values.get("construct") == construct


# Python's `re` is the reference: on these short texts it cannot backtrack for long.
REGEXES = [
    r"n[a4]ked", r"^draw\b", r"\bgun\b", r"\bнож\b", r"\b(cat|dog)s?\b", r"\w+ing\b", r"\d{3}",
    r"\D\d", r"[^\W\d_]+x", r"[\W]x", r"[^\w]x", r"a\sb", r"a\Sb", r"[^\S\n]x", r"[\s\d]",
    r"[^\s\d]y", r"end$", r"(?m)^b$", r"(?s)a.b", r"a.b", r"(?-i:Ab)c", r"kill", r"[h-j]x",
    r"[^i]x", r"\Aab", r"ab\Z", r"(?x) a b  c", r"a{2,3}b", r"(ab)+?c", r"\u00e9t\u00e9",
    r"[\u0400-\u04ff]+z", r"(?a)\w+", r"(?a)\d", r"\b\d+\b", r"\bé", r"é\b", r"\b-x", r"x-\b",
    r"[\w-]+@", r"\$\d+", r"[.]\.", r"a|b\b", r"\b(?:a|b)", r"[a-c]+[^a-c]", r"[^ab]", r"ß",
    r"σ", r"dž", r"\N{BULLET}", r"(?i:x)y", r"x*+y", r"(?:\w\W){2}", r"[^\W]", r"[^\W\d]",
    # a `$` that a later part would need to read past, and \b inside a group at either end
    r"gun$\n", r"$\n", r"a$\n?", r"a$$", r"(\b)x", r"x(\b)", r"((\b))é", r"x(?:a\b|é\b)",
    r"(\bé|a)x", r"^\bé", r"é\b$", r"\w+\b!", r"é\Bx", r"a\b-", r"(é)\b\1", r"(?-i:é\b)x",
    r"(?-i:x\b)!",
]  # fmt: skip
# Typed by an input method or pasted, and the same regex as Python would match it in normal text
TYPED = {
    "ｇｕｎ": "gun", "１８禁": "18禁", "裸体，": "裸体,", "ﬁ+re": "(?:fi)+re",
    "[ﬁx]y": "(?:[x]|fi)y", "[ａ-ｃ]+": "[a-c]+", "[^ａ-ｃ]": "[^a-c]", "[^ｇ]x": "[^g]x",
    "g\u200bun": "gun", "x\u200b*y": "xy", "cafe\u0301": "café", "18＋": r"18\+",
    "（a｜b）": r"\(a\|b\)", "a＊": r"a\*", "\\bｇｕｎ\\b": r"\bgun\b", "[\u200bx]": "x",
    "ǅ": "dž",
}  # fmt: skip
ALPHABET = [*list("abcxyABCXY \n\téÉiIİı1٣_-@$.•нЖож猫ßσΣςǅǆkKlｇＵ１８禁ﬁ，,+＋*|（(!"),
            "\u3000", "\x1c", "ff", "\u200b", "\u0301", "\n\u200b"]  # fmt: skip


def random_texts(rng: random.Random, alphabet: list[str], count: int) -> list[str]:
    """Short texts, in normal form: Python's `re` cannot backtrack for long on them."""
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(count)]
    return [normalize(text) for text in texts]


def test_regexes_match_what_pythons_re_matched() -> None:
    """Every rewritten regex agrees with Python's `re` on thousands of short random texts; a
    regex typed with full-width or invisible characters, with Python's reading of the regex
    written in normal form."""
    texts = random_texts(random.Random(5), ALPHABET, 3000)
    texts += [normalize(t) for t in ("gun\n\u200b", "a\n\u200b", "x", "Éx", "xé!", "кот!")]
    for source, reference in [*((r, r) for r in REGEXES), *TYPED.items()]:
        python = re.compile(reference, re.IGNORECASE)
        try:
            ours = compile_rule(source, True)
        except RuleError:
            pytest.fail(f"{source} was not compiled")
        wrong = [text for text in texts if bool(python.search(text)) != ours.search(text)]
        assert wrong == [], source


def random_regex(rng: random.Random, depth: int = 0) -> str:
    """A random regex of what RE2 can run, in normal form."""
    atoms = [*"ab xé猫к_-!1٣", ".", r"\w", r"\W", r"\d", r"\D", r"\s", r"\S", "[ab]", "[^a-c]",
             r"[\w-]", r"[^\W\d]", r"[é!]", r"\b", r"\B", r"\b", r"\B", "^", "$", r"\A",
             r"\Z"]  # fmt: skip
    parts = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.2 and depth < 2:
            opening = rng.choice(["(", "(?:", "(?-i:", "(?s:"])
            part = opening + random_regex(rng, depth + 1) + ")"
        elif roll < 0.3 and depth < 2:
            part = "(?:" + random_regex(rng, depth + 1) + "|" + random_regex(rng, depth + 1) + ")"
        else:
            part = rng.choice(atoms)
        if part not in ("^", "$", r"\A", r"\Z", r"\b", r"\B") and rng.random() < 0.25:
            part += rng.choice(["*", "+", "?", "{1,2}", "*?", "{2}"])
        parts.append(part)
    if depth == 0 and rng.random() < 0.2:
        return rng.choice(["(?m)", "(?s)"]) + "".join(parts)
    return "".join(parts)


def test_random_regexes_match_what_pythons_re_matched() -> None:
    """As above, for hundreds of random regexes. Where a `\\b` or `\\B` stays RE2's own (next to
    a part that may or may not be a word character, in the middle of the regex: the README says
    so), on texts of ASCII characters only."""
    rng = random.Random(7)
    texts = random_texts(rng, [*"abxé猫к_-!1٣ \n", "\u00a0", "\u200b"], 600)
    ascii_texts = [text for text in texts if text.isascii()]
    compared = 0
    for _ in range(700):
        source = random_regex(rng)
        try:
            ours = compile_rule(source, True)
        except RuleError as refusal:  # matches the empty text
            assert refusal.message_key == "input.regex_matches_empty", source
            continue
        python = re.compile(source, re.IGNORECASE)
        pattern = rewrite(source).pattern
        ascii_only = re.search(r"\\[bB]", pattern) is not None
        wrong = [text for text in (ascii_texts if ascii_only else texts)
                 if bool(python.search(text)) != ours.search(text)]  # fmt: skip
        assert wrong == [], (source, pattern)
        compared += 1
    assert compared > 300


# Pieces of what a careless or hostile moderator may type, and what older versions stored
HOSTILE = [
    "(", ")", "[", "]", "{", "}", "|", "*", "+", "?", "^", "$", ".", "\\", "/", "-", ",", "#",
    "(?", "(?:", "(?P<g>", "(?P=g)", "(?#", "(?=", "(?<=", "(?<!", "(?>", "(?(1)", "\\1",
    "\\g<1>", "(?a)", "(?u)", "(?L)", "(?x)", "(?i)", "(?-i:", "(?s", "(?a:", "(?au)", "{0}",
    "{4294967295}", "{99999999999999999999}", "{1001}", "{2,1}", "{,}", "\\N{BULLET}",
    "\\N{NOPE}", "\\u12", "\\U0010ffff", "\\x4", "\\777", "\\p{L}", "\\b", "\\B",
    "\\A", "\\Z", "\\z", "\\w", "\\W", "\\d", "\\s", "\\S", "[^", "[[:alpha:]]",
    "a", "é", "ｇ", "＊", "（", "？", "ﬁ", "\u0301", "\u200b", "\u2060", "\ud800", "\udfff",
    "\x00", "\n", " ", "\u3000", "猫", "🔫", "\U0010ffff",
]  # fmt: skip
RULE_KEYS = {
    "input.blocklist_empty", "input.word_too_long", "input.regex_too_long", "input.regex_invalid",
    "input.regex_unsupported", "input.regex_too_complex", "input.regex_matches_empty",
    "input.blocklist_too_complex",
}  # fmt: skip


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
def test_no_entry_makes_the_blocklist_fail_other_than_with_a_reason() -> None:
    """Whatever a moderator adds is accepted or refused with a message key, never an exception
    (the moderator would read "Something went wrong"); and whatever a row holds, however it was
    stored, the server's blocklist still loads and checks prompts."""
    rng = random.Random(8)
    entries = ["".join(rng.choice(HOSTILE) for _ in range(rng.randint(1, 12))) for _ in range(1200)]
    entries += ["".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(1, 5)))
                for _ in range(300)]  # fmt: skip
    entries += [random_regex(rng) + rng.choice(HOSTILE) + random_regex(rng) for _ in range(500)]
    prompts = ["a gun", "ｇ\ud800é\n\u200b", "".join(rng.choice(HOSTILE) for _ in range(40))]
    for entry in entries:
        for text in (entry, f"/{entry}/"):
            try:
                rule = parse_rule(text)
                checker = checked([rule])
            except RuleError as refusal:
                assert refusal.message_key in RULE_KEYS, text
                continue
            assert checker.unchecked == frozenset(), text
            assert checker.first_match("\u200b") is None, text  # nothing blocks every prompt
            for prompt in prompts:
                checker.first_match(prompt)
        for stored in ((entry, True), (entry, False)):
            Checker([stored]).first_match(*prompts)


def test_a_widened_regex_blocks_at_least_what_python_blocked() -> None:
    rng = random.Random(6)
    texts = ["".join(rng.choice("ahbgunsmitc ") for _ in range(rng.randint(0, 10)))
             for _ in range(3000)]  # fmt: skip
    for source in ("gun(?!smith)", "(ha)\\1", "(?<=big )cat", "(^|a)(a)\\1\\.", "(?>ab|a)bc",
                   "a++b", "(a)?(?(1)b|c)", "(?<!\\w)hat", "x{2000}"):  # fmt: skip
        with pytest.raises(RuleError):  # refused when added
            parse_rule(f"/{source}/")
        ours, python = compile_rule(source, True), re.compile(source, re.IGNORECASE)
        assert rewrite(source, widen=True, shrink="x{" in source).widened
        missed = [text for text in texts if python.search(text) and not ours.search(text)]
        assert missed == [], source


def test_the_unicode_classes_are_pythons() -> None:
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    assert SPACES == "".join(re.findall(r"\s", everything))
    word, digit = compile_rule("[^\\W]", True), compile_rule("\\d", True)
    for c in "aZé猫ж_٣1²" + "".join(chr(c) for c in range(0x2000, 0x2100)):
        assert word.search(c) is bool(re.fullmatch(r"\w", c)), hex(ord(c))
        assert digit.search(c) is bool(re.fullmatch(r"\d", c)), hex(ord(c))


def test_each_prompt_is_read_once_for_every_entry() -> None:
    entries = [("gun", False), ("big cat", False), ("猫", False), ("n[a4]ked", True), ("x", False)]
    checker = Checker(entries)
    assert len(checker.programs) == 1 and checker.size < 10_000
    assert checker.first_match("a naked big cat with a gun") == 3  # the leftmost hit
    assert checker.first_match("calm", "a big  cat") == 1  # the negative prompt too
    assert checker.first_match("小猫") == 2
    assert checker.first_match("calm", None, "") is None
