"""Numbered schema migrations, tracked in ``PRAGMA user_version``.

Each migration runs in its own transaction together with the version bump, so a crash mid-upgrade
leaves the previous version intact. Never edit a shipped migration: add the next number.
"""

from __future__ import annotations

import html
import logging
import re
import sqlite3
from collections.abc import Callable

log = logging.getLogger(__name__)


def _unescape_agent_text(conn: sqlite3.Connection) -> None:
    """Model text used to be stored HTML-escaped (the web heartbeat's way); it is now stored as written and escaped
    where shown. Undo the escape once on every row an agent wrote (user text was never escaped)."""
    for table, column in (("posts", "title"), ("posts", "content"), ("comments", "content"), ("messages", "text")):
        rows = conn.execute(f"SELECT id, {column} FROM {table} WHERE run_id IS NOT NULL").fetchall()  # noqa: S608
        changed = [(html.unescape(text), rid) for rid, text in rows if html.unescape(text) != text]
        conn.executemany(f"UPDATE {table} SET {column} = ? WHERE id = ?", changed)  # noqa: S608


# Tables whose ids people and links see (post #4, a notification's Undo, History's links): with a plain
# INTEGER PRIMARY KEY, deleting the newest row frees its id for the next insert, so an old link would name
# another row. AUTOINCREMENT never hands out an id twice. What each id may also be named by, though its row
# is gone: the undo log's targets and the runs' recorded results.
_NEVER_REUSED: dict[str, tuple[str, ...]] = {
    "posts": (
        "SELECT max(target_id) FROM undo_log WHERE kind = 'post'",
        "SELECT max(CAST(json_extract(action_result, '$.post_id') AS INTEGER)) FROM runs "
        "WHERE json_valid(action_result) AND json_extract(action_result, '$.action') = 'post'",
    ),
    "comments": (
        "SELECT max(target_id) FROM undo_log WHERE kind = 'comment'",
        "SELECT max(CAST(json_extract(action_result, '$.comment_id') AS INTEGER)) FROM runs "
        "WHERE json_valid(action_result)",
    ),
    "votes": (
        "SELECT max(target_id) FROM undo_log WHERE kind = 'vote'",
        "SELECT max(CAST(json_extract(action_result, '$.vote_id') AS INTEGER)) FROM runs "
        "WHERE json_valid(action_result)",
    ),
    "messages": (),
    "notes": (),
    "undo_log": (),
}


def _ids_never_reused(conn: sqlite3.Connection) -> None:
    """Rebuild each table of `_NEVER_REUSED` with AUTOINCREMENT, keeping every row and id, and start its
    sequence past every id it ever gave out (as far as the database remembers one). SQLite cannot add
    AUTOINCREMENT in place; this is its documented table rebuild, run with foreign keys off (`migrate`), so
    dropping the old `posts` does not cascade to its comments."""
    for table, also_named in _NEVER_REUSED.items():
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
        if "AUTOINCREMENT" in sql.upper():
            continue
        new_sql, count = re.subn(
            r"\bid(\s+)INTEGER PRIMARY KEY\b", r"id\1INTEGER PRIMARY KEY AUTOINCREMENT", sql, count=1
        )
        if count != 1:
            raise sqlite3.DatabaseError(f"cannot find the id column of {table} to make it never reused")
        new_sql = new_sql.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}__rebuilt", 1)
        indexes = [
            r[0]
            for r in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
            )
        ]
        conn.execute(new_sql)
        conn.execute(f"INSERT INTO {table}__rebuilt SELECT * FROM {table}")  # noqa: S608 - names are ours
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {table}__rebuilt RENAME TO {table}")
        for index in indexes:
            conn.execute(index)
        highest = [conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]]  # noqa: S608
        highest += [conn.execute(query).fetchone()[0] for query in also_named]
        seq = max((int(h) for h in highest if h is not None), default=0)
        conn.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, seq))


Migration = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = [
    # 1: the base schema
    """
    CREATE TABLE threads (
        id             TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
        title          TEXT NOT NULL,
        workspace      TEXT,
        config         TEXT NOT NULL DEFAULT '{}',
        paused         INTEGER NOT NULL DEFAULT 0,
        created_at     REAL NOT NULL,
        last_active_at REAL
    );
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        thread_id  TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        role       TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
        text       TEXT NOT NULL,
        created_at REAL NOT NULL,
        run_id     TEXT UNIQUE
    );
    CREATE INDEX messages_thread ON messages(thread_id, id);
    CREATE TABLE notes (
        id         INTEGER PRIMARY KEY,
        thread_id  TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        kind       TEXT NOT NULL CHECK (kind IN ('memory', 'contradiction')),
        text       TEXT NOT NULL,
        resolved   INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX notes_thread ON notes(thread_id, resolved, id);
    CREATE TABLE runs (
        id                TEXT PRIMARY KEY,
        thread_id         TEXT NOT NULL,
        trigger           TEXT NOT NULL,
        dry_run           INTEGER NOT NULL DEFAULT 0,
        status            TEXT NOT NULL CHECK (status IN ('started', 'ok', 'skipped', 'failed', 'interrupted')),
        reason            TEXT NOT NULL DEFAULT '',
        model             TEXT,
        prompt            TEXT,
        raw_reply         TEXT,
        decision          TEXT,
        action_result     TEXT,
        warnings          TEXT,
        fingerprint       TEXT,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        started_at        REAL NOT NULL,
        finished_at       REAL,
        llm_ms            REAL,
        total_ms          REAL
    );
    CREATE INDEX runs_started ON runs(started_at);
    CREATE INDEX runs_thread_started ON runs(thread_id, started_at);
    CREATE INDEX runs_status ON runs(status) WHERE status = 'started';
    CREATE TABLE posts (
        id         INTEGER PRIMARY KEY,
        thread_id  TEXT REFERENCES threads(id) ON DELETE SET NULL,
        run_id     TEXT UNIQUE REFERENCES runs(id),
        title      TEXT NOT NULL,
        content    TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE comments (
        id         INTEGER PRIMARY KEY,
        post_id    INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        thread_id  TEXT REFERENCES threads(id) ON DELETE SET NULL,
        run_id     TEXT UNIQUE REFERENCES runs(id),
        content    TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX comments_post ON comments(post_id);
    CREATE TABLE votes (
        id         INTEGER PRIMARY KEY,
        post_id    INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        thread_id  TEXT NOT NULL,
        run_id     TEXT UNIQUE REFERENCES runs(id),
        direction  TEXT NOT NULL CHECK (direction IN ('up', 'down')),
        created_at REAL NOT NULL,
        UNIQUE (post_id, thread_id)
    );
    CREATE INDEX votes_created ON votes(created_at);
    -- Per-thread scheduling and precheck state, kept apart from config so a config edit never races it.
    CREATE TABLE thread_state (
        thread_id                TEXT PRIMARY KEY REFERENCES threads(id) ON DELETE CASCADE,
        last_run_at              REAL,
        last_status              TEXT,
        last_reason              TEXT,
        last_success_at          REAL,
        last_success_fingerprint TEXT,
        consecutive_failures     INTEGER NOT NULL DEFAULT 0,
        next_due_at              REAL
    );
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: which process owns a started run (so recovery never touches a live one), and busy deferrals
    """
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE thread_state ADD COLUMN defer_until REAL;
    """,
    # 3: history filters stay index-only at a million runs; undo of agent actions is recorded
    """
    CREATE INDEX runs_status_started ON runs(status, started_at);
    CREATE INDEX runs_thread_status_started ON runs(thread_id, status, started_at);
    CREATE TABLE undo_log (
        id         INTEGER PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('post', 'comment', 'vote')),
        target_id  INTEGER NOT NULL,
        run_id     TEXT,
        snapshot   TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX undo_log_run ON undo_log(run_id);
    """,
    # 4: model providers (the keys are in the OS keyring, never here)
    """
    CREATE TABLE providers (
        name       TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 40),
        kind       TEXT NOT NULL CHECK (kind IN ('ollama', 'openai', 'anthropic')),
        base_url   TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 5: the daily post cap counts a thread's posts of the day
    """
    CREATE INDEX posts_thread_created ON posts(thread_id, created_at);
    """,
    # 6: what the app knows about each provider without asking the keyring or the server again: whether a
    # key was stored (so a keyless provider never touches the keyring) and which output format its server
    # accepts. Providers of a database that predates this are marked "key unknown": looked up once.
    """
    CREATE TABLE provider_state (
        name              TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 40),
        has_key           INTEGER CHECK (has_key IN (0, 1)),
        key_changed_at    REAL,
        format_url        TEXT,
        output_format     TEXT,
        format_learned_at REAL
    );
    INSERT INTO provider_state (name, has_key)
        SELECT n, NULL FROM (
            SELECT 'ollama' AS n UNION SELECT 'openai' UNION SELECT 'anthropic' UNION SELECT name FROM providers
        )
        WHERE EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM providers);
    """,
    # 7: a model's context window, as its server reported it in an error (so prompts are built to fit)
    """
    CREATE TABLE model_windows (
        provider   TEXT NOT NULL,
        base_url   TEXT NOT NULL,
        model      TEXT NOT NULL,
        tokens     INTEGER NOT NULL CHECK (tokens > 0),
        learned_at REAL NOT NULL,
        PRIMARY KEY (provider, base_url, model)
    );
    """,
    # 8: agent text stored as written (it was HTML-escaped at storage)
    _unescape_agent_text,
    # 9: how a run asked (direct or reason-first), what its reasoning call said and took, and what replay
    # needs besides the stored prompt (the actions and posts the run was offered): the audit trail of #16
    """
    ALTER TABLE runs ADD COLUMN decision_mode TEXT;
    ALTER TABLE runs ADD COLUMN reasoning TEXT;
    ALTER TABLE runs ADD COLUMN reasoning_ms REAL;
    ALTER TABLE runs ADD COLUMN inputs TEXT;
    """,
    # 10: the slot each scheduled run served (the next slot follows it; History says how late a run was),
    # when the retention dropped an old run's prompt and reply, and a failure's kind (what backoff counts) (#22)
    """
    ALTER TABLE runs ADD COLUMN slot_at REAL;
    ALTER TABLE runs ADD COLUMN pruned_at REAL;
    ALTER TABLE runs ADD COLUMN error_kind TEXT;
    ALTER TABLE thread_state ADD COLUMN last_slot_at REAL;
    UPDATE thread_state SET last_slot_at = last_run_at;
    """,
    # 11: post, comment, vote, message and note ids are never given out twice (#22)
    _ids_never_reused,
    # 12: refused runs recorded before migration 10 get their kind, so nothing reads a refusal's wording (#23)
    """
    UPDATE runs SET error_kind = 'duplicate'
        WHERE status = 'failed' AND error_kind IS NULL AND reason LIKE 'refused: the same post as%';
    UPDATE runs SET error_kind = 'daily_cap'
        WHERE status = 'failed' AND error_kind IS NULL AND reason LIKE 'refused: this thread already %';
    UPDATE runs SET error_kind = 'not_allowed'
        WHERE status = 'failed' AND error_kind IS NULL AND reason LIKE 'refused: % is not allowed%';
    """,
    # 13: what the user said about the agent's actions: Undo, a down- or up-vote of its own post, "Not useful"
    # with a reason (#26). "Kept" is computed, never stored (core/feedback.py).
    """
    CREATE TABLE feedback (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id     TEXT NOT NULL,
        thread_id  TEXT,
        kind       TEXT NOT NULL CHECK (kind IN ('undo', 'down_vote', 'not_useful', 'up_vote')),
        reason     TEXT CHECK (reason IS NULL OR reason IN ('not_now', 'already_knew', 'wrong_thread', 'wrong')),
        source     TEXT NOT NULL CHECK (source IN ('notification', 'feed', 'history', 'cli', 'api')),
        created_at REAL NOT NULL
    );
    CREATE INDEX feedback_run ON feedback(run_id);
    CREATE INDEX feedback_thread_created ON feedback(thread_id, created_at);
    """,
    # 14: each task's slot (core/tasks.py, #26): the slot it last served, or the moment it was first seen, so a
    # restart neither repeats a task nor skips one
    """
    CREATE TABLE task_slots (
        thread_id    TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        task_key     TEXT NOT NULL,
        last_slot_at REAL NOT NULL,
        PRIMARY KEY (thread_id, task_key)
    );
    """,
    # 15: the kind of the thread's last failure, so a run the app's own rules refused (nothing new, a duplicate,
    # a cap) is told apart from trouble: the icon stays calm for it (#27)
    """
    ALTER TABLE thread_state ADD COLUMN last_error_kind TEXT;
    UPDATE thread_state SET last_error_kind = (
        SELECT r.error_kind FROM runs r
        WHERE r.thread_id = thread_state.thread_id AND r.started_at = thread_state.last_run_at
          AND r.dry_run = 0 AND r.trigger != 'preview'
        LIMIT 1
    );
    """,
    # 16: the rule line "Don't suggest this again" added for a rejected action: the user's reason in their own
    # words, kept on the rejection it belongs to (one row per rejected action, not a second one); and which
    # rejection stepped a daily cap down, so a vote changed back and forth does not step it down again
    """
    ALTER TABLE feedback ADD COLUMN rule TEXT;
    ALTER TABLE feedback ADD COLUMN stepped INTEGER NOT NULL DEFAULT 0;
    """,
]

LATEST = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to `LATEST`; return the version found. Refuses a database from a newer app."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > LATEST:
        raise sqlite3.DatabaseError(
            f"database schema version {version} is newer than this app understands ({LATEST}); upgrade the app"
        )
    if version >= LATEST:
        return version
    # A table rebuild (11) must not cascade: foreign keys off for the upgrade (a no-op inside a transaction,
    # so here), back on after. Each step copies rows as they are, so it cannot break a reference.
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        _upgrade(conn, version)
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(bool(foreign_keys))}")
    return version


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    for number in range(version + 1, LATEST + 1):
        conn.execute("BEGIN IMMEDIATE")
        # Another process may have migrated while we waited for the write lock.
        if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
            conn.execute("COMMIT")
            continue
        log.info("Migrating database to schema version %d", number)
        try:
            step = MIGRATIONS[number - 1]
            if callable(step):
                step(conn)
            else:
                for statement in _split(step):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(number)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _split(script: str) -> list[str]:
    """executescript() would COMMIT on its own; run statement by statement inside our transaction."""
    return [s.strip() for s in script.split(";") if s.strip()]
