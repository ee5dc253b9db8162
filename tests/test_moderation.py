"""Moderation rules without Discord: time filters, the log and its keyset pages, the CSV export
(bounded memory), bans, the blocklist's matching rules, settings and the append-only audit."""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import pytest

from bot.blocklist import MAX_RULES
from bot.moderation import (
    AS_WRITTEN,
    IN_PROGRESS,
    NOT_CHECKED,
    WIDENED,
    InvalidInput,
    LogFilter,
    Moderation,
    parse_since,
)
from bot.store import Generation, NewGeneration, Store, open_store
from bot.ui.client import error_text
from tests.backends import REFUSED, Backend
from tests.conftest import START, FakeClock, deadline

GUILD, OTHER_GUILD = 1, 2
ALICE, BOB, MOD = 11, 12, 99


def said(refusal: Exception) -> str:
    """A refusal as the moderator reads it (in English)."""
    return error_text(refusal, None)


@pytest.fixture
async def store(backend: Backend, clock: FakeClock) -> AsyncIterator[Store]:
    s = await open_store(backend.target, clock=clock)
    yield s
    await s.close()


@pytest.fixture
def mod(store: Store) -> Moderation:
    return Moderation(store)


async def add(
    store: Store,
    clock: FakeClock,
    *,
    user: int = ALICE,
    guild: int = GUILD,
    status: str = "completed",
    prompt: str = "a cat",
    task_id: str | None = None,
    advance: float = 60,
) -> Generation:
    clock.advance(advance)
    g = await store.generations.add(
        NewGeneration(
            guild_id=guild, channel_id=5, user_id=user, locale="en-US", prompt=prompt,
            negative_prompt=None, quality="720p", aspect_ratio="16:9", duration=5, seed=None,
            prompt_extend=None, audio_url=None, idempotency_key=str(uuid.uuid4()), next_poll_at=0,
        )
    )  # fmt: skip
    task = task_id or f"task-{g.id}"
    await store.execute(
        """UPDATE generations SET status = ?, task_id = ?, credits_used = 6,
           result_url = CASE WHEN ? = 'completed' THEN 'https://cdn.example/v.mp4' END
           WHERE id = ?""",
        status, task, status, g.id,
    )  # fmt: skip
    got = await store.generations.get(g.id)
    assert got is not None
    return got


# --- since ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds_ago"),
    [("24h", 86400), ("30m", 1800), ("7d", 7 * 86400), ("2w", 14 * 86400), (" 3 days ", 259200)],
)
def test_since_accepts_periods(text: str, seconds_ago: int) -> None:
    assert parse_since(text, START) == START - seconds_ago


def test_since_accepts_dates_in_utc_or_with_an_offset() -> None:
    assert parse_since("2026-11-01", START) == 1793491200.0  # 2026-11-01T00:00:00Z
    assert parse_since("2026-11-01T12:00:00+02:00", START) == 1793491200.0 + 10 * 3600


@pytest.mark.parametrize("text", ["yesterday", "0h", "24", "99999w", "2026-13-01", "h"])
def test_since_explains_what_it_accepts(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_since(text, START)
    assert "`24h`" in said(info.value) or "positive period" in said(info.value)


# --- log --------------------------------------------------------------------------------------


async def all_pages(mod: Moderation, f: LogFilter, limit: int) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        page = await mod.log_page(f, cursor, limit=limit)
        pages.append([g.id for g in page.items])
        if page.next is None:
            return pages
        cursor = page.next


async def test_log_pages_newest_first_with_filters_and_ties(
    store: Store, mod: Moderation, clock: FakeClock
) -> None:
    statuses = ["completed", "failed", "running", "expired", "completed", "requested"]
    made = []
    for n in range(12):
        # every third row shares its timestamp with the previous one: the id breaks the tie
        made.append(
            await add(store, clock, user=(ALICE, BOB)[n % 2], status=statuses[n % 6],
                      advance=0 if n % 3 == 2 else 60)
        )  # fmt: skip
    await add(store, clock, guild=OTHER_GUILD)
    newest_first = [g.id for g in reversed(made)]

    pages = await all_pages(mod, LogFilter(GUILD), limit=5)
    assert pages == [newest_first[:5], newest_first[5:10], newest_first[10:]]

    alice = await all_pages(mod, LogFilter(GUILD, user_id=ALICE), limit=4)
    assert [i for page in alice for i in page] == [
        g.id for g in reversed(made) if g.user_id == ALICE
    ]

    failed = await all_pages(mod, LogFilter(GUILD, statuses=("failed",)), limit=10)
    assert failed == [[g.id for g in reversed(made) if g.status == "failed"]]

    busy = await all_pages(mod, LogFilter(GUILD, statuses=IN_PROGRESS), limit=10)
    assert busy == [[g.id for g in reversed(made) if g.status in ("running", "requested")]]

    since = made[8].requested_at
    recent = await all_pages(mod, LogFilter(GUILD, since=since), limit=10)
    assert recent == [[g.id for g in reversed(made) if g.requested_at >= since]]

    empty = await mod.log_page(LogFilter(GUILD, user_id=MOD))
    assert empty.items == [] and empty.next is None


@pytest.mark.sqlite_only("SQLite's query plans (PostgreSQL's planner goes by its statistics)")
async def test_log_queries_use_an_index_not_a_scan_or_sort(store: Store) -> None:
    from bot.store.history import _log_query

    for f in (
        LogFilter(GUILD),
        LogFilter(GUILD, user_id=ALICE),
        LogFilter(GUILD, statuses=("failed",)),
        LogFilter(GUILD, since=START),
    ):
        sql, *params = _log_query(f, (START, 10), 7)
        plan = " ".join(
            str(r[3]) for r in await store.fetchall(f"EXPLAIN QUERY PLAN {sql}", *params)
        )
        assert "USING INDEX generations_guild" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


async def test_show_and_autocomplete_stay_inside_the_server(
    store: Store, mod: Moderation, clock: FakeClock
) -> None:
    mine = await add(store, clock, prompt="a red fox in snow", task_id="task-fox")
    theirs = await add(store, clock, guild=OTHER_GUILD, task_id="task-secret")
    unstarted = await add(store, clock, status="failed")
    await store.execute("UPDATE generations SET task_id = NULL WHERE id = ?", unstarted.id)

    found = await mod.get_by_task_id(GUILD, "task-fox")
    assert found is not None and found.id == mine.id
    assert await mod.get_by_task_id(GUILD, "task-secret") is None
    assert await mod.get_by_task_id(GUILD, f"#{theirs.id}") is None
    by_number = await mod.get_by_task_id(GUILD, f"#{unstarted.id}")
    assert by_number is not None and by_number.id == unstarted.id

    assert [g.id for g in await mod.recent(GUILD, "FOX")] == [mine.id]  # id or prompt, any case
    assert [g.id for g in await mod.recent(GUILD, "fox-")] == []
    assert [g.id for g in await mod.recent(GUILD)] == [unstarted.id, mine.id]
    assert await mod.recent(GUILD, "secret") == []


# --- export -----------------------------------------------------------------------------------


async def bulk_insert(store: Store, rows: int, prompt_length: int) -> None:
    """`rows` completed generations in one statement (fast), one second apart."""
    await store.execute(
        f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
            INSERT INTO generations (guild_id, channel_id, user_id, prompt, quality, duration,
                idempotency_key, task_id, status, credits_used, result_url, requested_at,
                updated_at)
            SELECT CAST(? AS BIGINT), 5, 100 + i % 7, 'scene ' || i || ' ' || CAST(? AS TEXT),
                '720p', 5, 'key-' || i, 'task-' || i, 'completed', 6, 'https://cdn.example/' || i,
                CAST(? AS DOUBLE PRECISION) + i, CAST(? AS DOUBLE PRECISION) + i
            FROM n""",
        GUILD, "x" * prompt_length, START, START,
    )  # fmt: skip


async def test_export_of_twenty_thousand_rows_streams_in_bounded_memory(
    store: Store, mod: Moderation
) -> None:
    await bulk_insert(store, 20_000, prompt_length=1500)
    with tempfile.TemporaryFile() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        tracemalloc.start()
        started = time.perf_counter()
        try:
            written = await mod.export_csv(LogFilter(GUILD), text)
            text.flush()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        elapsed = time.perf_counter() - started
        size = raw.tell()
        raw.seek(0)
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(reader)
        first = next(reader)
        count = 1 + sum(1 for _ in reader)

    assert written == count == 20_000
    assert size > 30_000_000  # the file is far bigger than what the export ever held
    assert peak < 20_000_000 and peak < size / 3, (peak, size)
    assert elapsed < 10
    assert header[:5] == ["time", "video", "server", "channel", "member_id"]
    assert {"prompt", "negative_prompt", "task_id", "status", "credits_charged", "message",
            "error", "seed"} <= set(header)  # fmt: skip
    assert not {"callback_token", "idempotency_key", "next_poll_at"} & set(header)  # no internals
    row = dict(zip(header, first, strict=True))
    assert row["video"] == "20000" and row["task_id"] == "task-20000"  # newest first
    assert row["time"] == "2027-01-15T13:33:20Z"  # START + 20000 s, in UTC


async def test_export_filters_and_makes_member_text_safe_for_spreadsheets(
    store: Store, mod: Moderation, clock: FakeClock
) -> None:
    await add(store, clock, prompt='=HYPERLINK("http://evil.example","click")')
    await add(store, clock, prompt='一只小猫, "quoted"\nsecond line', user=BOB)
    await add(store, clock, prompt="elsewhere", guild=OTHER_GUILD)
    out = io.StringIO()
    assert await mod.export_csv(LogFilter(GUILD), out, batch=1) == 2  # batch edges
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["prompt"] for r in rows] == [
        '一只小猫, "quoted"\nsecond line',
        '\'=HYPERLINK("http://evil.example","click")',
    ]
    assert rows[0]["negative_prompt"] == "" and rows[0]["prompt_extend"] == "false"
    only_bob = io.StringIO()
    assert await mod.export_csv(LogFilter(GUILD, user_id=BOB), only_bob) == 1


# --- bans -------------------------------------------------------------------------------------


async def test_ban_and_unban_are_per_server_and_recorded_once(mod: Moderation) -> None:
    entry = await mod.ban(GUILD, ALICE, MOD, "spam")
    assert entry is not None and (entry.action, entry.target_user_id) == ("ban", ALICE)
    assert await mod.is_banned(GUILD, ALICE)
    assert not await mod.is_banned(OTHER_GUILD, ALICE)
    assert not await mod.is_banned(GUILD, BOB)
    assert await mod.ban(GUILD, ALICE, MOD, "again") is None  # nothing changes
    ban = await mod.get_ban(GUILD, ALICE)
    assert ban is not None and (ban.banned_by, ban.reason) == (MOD, "spam")

    assert await mod.unban(GUILD, ALICE, MOD, "appealed") is not None
    assert not await mod.is_banned(GUILD, ALICE)
    assert await mod.unban(GUILD, ALICE, MOD) is None
    audit = await mod.audit_page(GUILD)
    assert [(e.action, e.reason) for e in audit.items] == [("unban", "appealed"), ("ban", "spam")]

    with pytest.raises(InvalidInput):
        await mod.ban(GUILD, BOB, MOD, "x" * 501)
    assert not await mod.is_banned(GUILD, BOB)


# --- blocklist --------------------------------------------------------------------------------
# What an entry matches is tests/test_blocklist.py; here, the service that keeps and checks them.


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("/gun(?!smith)/", "can't use `(?!...)`"),
        ("/(?<=big )cat/", "can't use `(?<=...)`"),
        ("/(ha)\\1/", "can't use `\\1`"),
        ("/(?>ab)c/", "can't use `(?>...)`"),
        ("/a*+b/", "can't use `*+`"),
        ("/\\w{300}/", "too large to check quickly"),
        ("/.{900}x.{200}/", "too large to check quickly"),
        ("/[/", "not a valid regular expression"),
        ("/x?/", "empty prompt"),
        ("/(cat|dog)*/", "empty prompt"),
        ("/" + "a" * 201 + "/", "at most 200"),
        ("w" * 101, "at most 100"),
        ("   ", "empty"),
    ],
)
async def test_blocklist_refuses_what_it_cannot_check(
    mod: Moderation, entry: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await mod.blocklist_add(GUILD, entry, MOD)
    assert problem in said(info.value)
    assert info.value.message_key is not None and info.value.message_key.startswith("input.")
    assert await mod.blocklist(GUILD) == [] and (await mod.audit_page(GUILD)).items == []


async def test_blocklist_add_match_remove_and_audit(mod: Moderation) -> None:
    assert await mod.match(GUILD, "a gun") is None
    added = await mod.blocklist_add(GUILD, "  Big   GUN ", MOD, reason="policy")
    assert added is not None and added.details == {"pattern": "big gun"}
    assert await mod.blocklist_add(GUILD, "big gun", MOD) is None  # the same entry
    assert await mod.blocklist_add(GUILD, "gun", MOD) is not None
    assert await mod.blocklist_add(GUILD, "/gore+/", MOD) is not None
    assert await mod.blocklist_add(GUILD, "blood", MOD, regex=True) is not None

    assert await mod.match(GUILD, "calm", "no BIG gun please") == "big gun"  # negative prompt too
    assert await mod.match(GUILD, "calm", "no gun please") == "gun"
    assert await mod.match(GUILD, "goreee") == "/gore+/"
    assert await mod.match(GUILD, "bloodbath") == "/blood/"
    assert await mod.match(OTHER_GUILD, "a gun") is None
    assert [r.display for r in await mod.blocklist(GUILD)] == [
        "big gun", "gun", "/gore+/", "/blood/"
    ]  # fmt: skip

    assert await mod.blocklist_remove(GUILD, "/gore+/", MOD) is not None
    assert await mod.blocklist_remove(GUILD, "/blood/", MOD, "too broad") is not None
    assert await mod.blocklist_remove(GUILD, "nothing", MOD) is None
    assert await mod.match(GUILD, "goreee bloodbath") is None  # the cache was refreshed
    actions = [
        (e.action, e.details.get("pattern")) for e in (await mod.audit_page(GUILD, limit=20)).items
    ]
    assert actions == [
        ("blocklist_remove", "/blood/"), ("blocklist_remove", "/gore+/"),
        ("blocklist_add", "/blood/"), ("blocklist_add", "/gore+/"),
        ("blocklist_add", "gun"), ("blocklist_add", "big gun"),
    ]  # fmt: skip


# Each makes Python's `re` backtrack for minutes or more on PROMPT (`\w*\w*\w*z` takes ~n³/6
# steps, `(a+)+$` 2ⁿ); RE2 reads the prompt once. All of them together, over both prompts:
# about 0.1 ms (`python -m bench.blocklist`).
PATHOLOGICAL = [
    "/\\w*\\w*\\w*z/", "/(a*)*b/", "/(a|a)*b/", "/(x+x+)+y/", "/(a+)+$/", "/((ab)*c)+/",
    "/(.*a){12}b/", "/(\\w+\\s?)+!/", "/^(a|aa)+$/",
]  # fmt: skip
PROMPT = "a" * 2500 + "x" * 2499 + "."  # 5,000 characters, the most /video takes


async def test_no_entry_can_stall_matching_even_the_longest_prompts(mod: Moderation) -> None:
    for entry in PATHOLOGICAL:
        assert await mod.blocklist_add(GUILD, entry, MOD) is not None, entry
    with deadline(2):  # Python's `re` was still running hours later
        assert await mod.match(GUILD, PROMPT, "a" * 499 + ".") is None
        assert await mod.match(GUILD, PROMPT[:-1] + "y") == "/(x+x+)+y/"
        assert await mod.match(GUILD, "quiet", "a" * 499 + "b") == "/(a*)*b/"


@pytest.mark.parametrize("heavy", ["\\w{20}", ".{400}"])
async def test_all_entries_together_stay_small_enough_to_check_quickly(
    mod: Moderation, heavy: str
) -> None:
    """The whole blocklist is one RE2 program, capped in instructions (one `\\w{20}` takes
    ~27,000 of MAX_PROGRAM) and in characters read at once (`.{400}`: 400 of MAX_POSITIONS),
    which bounds a prompt's cost to ~0.2 s even for a list built to defeat RE2's DFA, and to well
    under a millisecond for real ones (`python -m bench.blocklist`)."""
    entries = [f"/{n}{heavy}/" for n in range(MAX_RULES)]
    with pytest.raises(InvalidInput) as info:
        for entry in entries:
            await mod.blocklist_add(GUILD, entry, MOD)
    assert "too large to check quickly" in said(info.value)
    kept = len(await mod.blocklist(GUILD))
    assert 0 < kept < 5
    assert await mod.blocklist_remove(GUILD, entries[0], MOD) is not None
    assert await mod.blocklist_add(GUILD, entries[kept], MOD) is not None


async def test_the_longest_words_all_fit_and_the_entry_cap_still_holds(
    store: Store, mod: Moderation
) -> None:
    words = [f"{n:03d}" + "word" * 24 for n in range(MAX_RULES)]  # 99 characters each
    for word in words[:-1]:
        await insert_rule(store, word, is_regex=False)
    assert await mod.blocklist_add(GUILD, words[-1], MOD) is not None  # checks all 200 together
    with pytest.raises(InvalidInput) as info:
        await mod.blocklist_add(GUILD, "one more", MOD)
    assert "already has 200 entries" in said(info.value)
    with deadline(2):
        assert await mod.match(GUILD, "x " * 2500, "calm") is None
        assert await mod.match(GUILD, "calm", f"a {words[-1].upper()}.") == words[-1]
        assert await mod.match(GUILD, f"{words[0]}s") is None


async def insert_rule(store: Store, pattern: str, *, is_regex: bool = True) -> None:
    """A row as an older version of the bot may have stored it, unchecked by today's rules."""
    await store.execute(
        """INSERT INTO blocklist (guild_id, pattern, is_regex, added_by, added_at)
           VALUES (?, ?, ?, ?, ?)""",
        GUILD, pattern, int(is_regex), MOD, START,
    )  # fmt: skip


async def test_a_stored_regex_re2_cannot_run_still_blocks_all_it_did_and_is_flagged(
    store: Store, mod: Moderation, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows from before the blocklist ran on RE2 may hold look-around or back-references.
    Such an entry is checked widened (look-around dropped, a back-reference read as its group's
    pattern): it blocks every prompt it blocked, maybe more, and the moderators are told."""
    stored = ["gun(?!smith)", "(ha)\\1", "(?<=big )cat", "(((a{11}){11}){11}){11}"]
    for pattern in stored:
        await insert_rule(store, pattern)
    with caplog.at_level(logging.WARNING, logger="bot.blocklist"):
        rules = await mod.blocklist(GUILD)
    assert [r.checked for r in rules] == [WIDENED, WIDENED, WIDENED, NOT_CHECKED]
    assert "/gun(?!smith)/ is checked widened" in caplog.text
    assert "/(((a{11}){11}){11}){11}/ is NOT CHECKED" in caplog.text

    assert await mod.match(GUILD, "a gun") == "/gun(?!smith)/"
    assert await mod.match(GUILD, "a gunsmith") == "/gun(?!smith)/"  # broader than written
    assert await mod.match(GUILD, "hahaha") == "/(ha)\\1/"
    assert await mod.match(GUILD, "a big cat") == "/(?<=big )cat/"
    assert await mod.match(GUILD, "a calm dog") is None
    assert await mod.blocklist_remove(GUILD, "/gun(?!smith)/", MOD) is not None


async def test_stored_regexes_are_normalised_and_none_blocks_every_prompt(
    store: Store, mod: Moderation, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows added before a regex's characters were normalised: a full-width one starts blocking
    what it was meant to; one that is now empty (a zero-width space), or one that matched the
    empty text before that was refused, would refuse every prompt, so it is left out and shown
    as not checked."""
    for pattern in ("ｇｕｎ", "\u200b", "a|", "裸体，"):
        await insert_rule(store, pattern)
    await insert_rule(store, "", is_regex=False)
    with caplog.at_level(logging.WARNING, logger="bot.blocklist"):
        rules = await mod.blocklist(GUILD)
    checked = [AS_WRITTEN, NOT_CHECKED, NOT_CHECKED, AS_WRITTEN, NOT_CHECKED]
    assert [r.checked for r in rules] == checked
    assert "/a|/ is NOT CHECKED: it would match every prompt" in caplog.text
    assert await mod.match(GUILD, "a gun") == "/ｇｕｎ/"
    assert await mod.match(GUILD, "ｇ\u200bｕｎ") == "/ｇｕｎ/"
    assert await mod.match(GUILD, "一个裸体，女人") == "/裸体，/"
    assert await mod.match(GUILD, "a calm lake") is None


# --- settings and audit -----------------------------------------------------------------------


async def test_log_channel_setting_is_recorded_when_it_changes(mod: Moderation) -> None:
    assert await mod.log_channel(GUILD) is None
    entry = await mod.set_log_channel(GUILD, 555, MOD)
    assert entry is not None and entry.details == {
        "setting": "log_channel",
        "old": None,
        "new": 555,
    }
    assert await mod.set_log_channel(GUILD, 555, MOD) is None
    assert await mod.log_channel(GUILD) == 555 and await mod.log_channel(OTHER_GUILD) is None
    off = await mod.set_log_channel(GUILD, None, MOD, "too noisy")
    assert off is not None and off.details["old"] == 555 and off.reason == "too noisy"
    assert await mod.log_channel(GUILD) is None


async def test_audit_is_append_only_paged_and_filterable(
    store: Store, mod: Moderation, clock: FakeClock
) -> None:
    for n in range(7):
        clock.advance(1)
        await mod.record(GUILD, MOD if n % 2 else MOD + 1, "grant", ALICE + n % 3,
                         {"amount": n}, f"reason {n}")  # fmt: skip
    async with store.transaction() as tx:  # another cog's action, atomic with its change
        refund = await mod.record(GUILD, MOD, "refund", BOB, {"credits": 6}, "bug", tx=tx)
    assert (refund.moderator_id, refund.action, refund.target_user_id) == (MOD, "refund", BOB)
    assert refund.created_at == clock.now and refund.details == {"credits": 6}

    first = await mod.audit_page(GUILD, limit=3)
    second = await mod.audit_page(GUILD, first.next, limit=3)
    third = await mod.audit_page(GUILD, second.next, limit=3)
    ids = [e.id for page in (first, second, third) for e in page.items]
    assert ids == [8, 7, 6, 5, 4, 3, 2, 1] and third.next is None
    by_mod = await mod.audit_page(GUILD, moderator_id=MOD, limit=20)
    assert [e.id for e in by_mod.items] == [8, 6, 4, 2]
    about_alice = await mod.audit_page(GUILD, target_user_id=ALICE, limit=20)
    assert [e.details["amount"] for e in about_alice.items] == [6, 3, 0]
    assert (await mod.audit_page(OTHER_GUILD)).items == []

    for sql in ("UPDATE audit_log SET reason = 'edited'", "DELETE FROM audit_log"):
        with pytest.raises(REFUSED, match="append-only"):
            await store.execute(sql)
