"""Every SQL statement of the bot lives in bot/store/, and the purpose modules there write SQL
that any database reads: what only SQLite understands comes from its backend (bot/store/sqlite.py,
and the backup tooling beside it), so a second backend implements the seam without touching the
rules above it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "bot" / "store"
# The SQLite backend and its file tooling may speak SQLite, and so may the copy from an SQLite
# file into PostgreSQL (python -m bot.migrate); nothing else may.
SQLITE_ONLY_ALLOWED = {
    STORE / "sqlite.py",
    STORE / "sqlite_backup.py",
    STORE / "copy_to_postgres.py",
}

STATEMENT = re.compile(
    r"""\s*(
        SELECT\s.*\bFROM\b | SELECT\s+([\d(*'?]|\w+\s*\()
      | INSERT\s+(OR\s+\w+\s+)?INTO\s | REPLACE\s+INTO\s
      | UPDATE\s+(OR\s+\w+\s+)?\w+\s+SET\s | DELETE\s+FROM\s
      | CREATE\s+(UNIQUE\s+|TEMP\w*\s+)?(TABLE|INDEX|TRIGGER|VIEW)\s
      | DROP\s+(TABLE|INDEX|TRIGGER|VIEW)\s | ALTER\s+TABLE\s
      | PRAGMA\s+\w | WITH\s+(RECURSIVE\s+)?\w+(\s*\([^)]*\))?\s+AS\s*\(
      | (BEGIN(\s+\w+)?|COMMIT|ROLLBACK)\s*;?\s*$
    )""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
SQLITE_ONLY = re.compile(
    r"""\bPRAGMA\b | \bjson_each\b | \bINDEXED\s+BY\b | \bINSERT\s+OR\b | \bREPLACE\s+INTO\b
      | \bUPDATE\s+OR\b | \bIS\s+\? | \binstr\s*\( | \b(MAX|MIN)\s*\(\s*[^()]*, | \bsqlite_\w+
      | \bprintf\s*\( | \bjulianday\b | \bGLOB\b | \browid\b""",
    re.IGNORECASE | re.VERBOSE,
)


def strings(source: str) -> list[tuple[int, str]]:
    """Every string literal of the source but docstrings, with an f-string's expressions read
    as `{}`, and the line it starts on."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            found.append((node.lineno, text))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings | inside_fstrings
        ):
            found.append((node.lineno, node.value))
    return found


def is_statement(text: str) -> bool:
    """SQL whatever its case, but a keyword in sentence case ("Select a member from...") is
    English: statements are written in capitals here, or all in lower case."""
    keyword = text.split(maxsplit=1)[0] if text.strip() else ""
    return bool(STATEMENT.match(text)) and (keyword.isupper() or keyword.islower())


def statements(source: str) -> list[tuple[int, str]]:
    return [(line, text) for line, text in strings(source) if is_statement(text)]


def sqlite_only(source: str) -> list[tuple[int, str]]:
    """SQLite's own syntax in any string (statements and the fragments they are built of)."""
    return [
        (line, match.group(0))
        for line, text in strings(source)
        for match in [SQLITE_ONLY.search(text)]
        if match
    ]


def sources(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def test_no_module_of_the_bot_outside_the_store_writes_sql() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()[:60]!r}"
        for path in sources("bot", "cogs")
        if STORE not in path.parents
        for line, text in statements(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "move these into a method of bot/store/:\n" + "\n".join(found)


def test_the_purpose_modules_write_sql_any_database_reads() -> None:
    modules = [p for p in sorted(STORE.glob("*.py")) if p not in SQLITE_ONLY_ALLOWED]
    assert {p.name for p in modules} >= {"generations.py", "ledger.py", "moderation.py"}
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what!r}"
        for path in modules
        for line, what in sqlite_only(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "ask the backend's dialect for these (bot/store/database.py):\n" + (
        "\n".join(found)
    )


def test_no_module_outside_the_store_runs_statements_or_opens_sqlite() -> None:
    """Nothing calls a database directly (Store.fetchone and the like are for tests and tools).
    bot/backup.py alone imports sqlite3: python -m bot.backup reports SQLite's own errors about
    the file it copies or checks (bot/store/sqlite_backup.py does the work)."""
    calls = {"fetchone", "fetchall", "execute", "executemany", "executescript"}
    found = []
    for path in sources("bot", "cogs"):
        if STORE in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in calls:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module] if isinstance(node, ast.ImportFrom) else []
                names += [alias.name for alias in node.names]
                if {"sqlite3", "aiosqlite"} & set(names) and path.name != "backup.py":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {names}")
    assert found == []


def test_the_scans_see_every_spelling() -> None:
    source = '''
"""Select the rows from a table: a docstring is prose."""
A = "SELECT id FROM generations"
B = f"""  select {COLUMNS} from generations WHERE id = ?"""
C = "SELECT COUNT(*)"
D = "insert or ignore into bans (a) values (?)"
E = "UPDATE guild_limits SET " f"{name} = ?"
F = "delete from blocklist"
G = "CREATE INDEX x ON t (a)"
H = "PRAGMA user_version"
I = "WITH RECURSIVE n(i) AS (SELECT 1)"
J = "BEGIN IMMEDIATE"
K = "REPLACE INTO audit_log (id) VALUES (1)"
'''
    assert [line for line, _ in statements(source)] == list(range(3, 14))
    prose = [
        "With a stand-in Discord API (DISCORD_API_BASE_URL), connect to it",
        "Select a status from the list",
        "Update your settings to continue",
        "Delete from the list what you no longer need",
        "create",
        "drop",
        "Begin by typing /video",
    ]
    assert statements("\n".join(f"X = {text!r}" for text in prose)) == []
    dialect = """
A = "SELECT value FROM json_each(?)"
B = "SELECT 1 FROM generations INDEXED BY generations_polling"
C = "UPDATE generations SET progress = MAX(progress, ?)"
D = "SELECT * FROM generations WHERE guild_id IS ?"
E = "INSERT OR IGNORE INTO guild_limits (guild_id) VALUES (?)"
F = "SELECT 1 FROM generations WHERE instr(prompt, ?) > 0"
G = "PRAGMA user_version"
H = "SELECT MAX(requested_at) FROM generations"
I = "SELECT COALESCE(SUM(amount), 0) FROM credit_ledger"
"""
    assert [line for line, _ in sqlite_only(dialect)] == list(range(2, 9))
