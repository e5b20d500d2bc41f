"""HEARTBEAT.md: the user's checklist, rules and proactive behaviours, in plain Markdown.

People write this file by hand, so the parser is forgiving: heading level and case do not matter,
"Behaviours" and "Behaviors" both work, rules may use "→", "->", "=>" or "then", and HTML comments are
ignored (the shipped template uses them for hints). Anything it does not recognise is still kept in `raw`,
which is what the model reads; the parsed parts drive the editor's preview and the "is there anything to
do at all?" precheck.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .tasks import Task, parse_tasks

ITEMS_MAX = 40
"""Items numbered at most (core/citations.py): the prompt lists them again beside HEARTBEAT.md and the schema
enumerates their numbers, so a file of thousands of lines must not multiply into either (a 35,000-line
checklist once did)."""

log = logging.getLogger(__name__)

FILENAME = "HEARTBEAT.md"

# An HTML comment as CommonMark and HTML end it: `<!-->` and `<!--->` are whole (empty) comments, `--!>` closes
# like `-->`, and an unclosed one runs to the end of the file (what `check` shows and what the model reads
# agree, whatever the form: a `<!--->` once hid the checklist after it from `check` but not from the model).
_COMMENT = re.compile(r"<!--(?:>|->|.*?(?:--!?>|\Z))", re.S)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_CHECKBOX = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[( |x|X)\]\s*(.*)$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_RULE_ARROW = re.compile(r"^(?:if|when)\s+(.+?)\s*(?:→|->|=>|⇒)\s*(.+)$", re.I)
_RULE_THEN = re.compile(r"^(?:if|when)\s+(.+?),?\s+then\s+(.+)$", re.I)
_BARE_ARROW = re.compile(r"^(.+?)\s*(?:→|->|=>|⇒)\s*(.+)$")

_SECTION_NAMES = {
    "checklist": "checklist",
    "check list": "checklist",
    "checks": "checklist",
    "rules": "rules",
    "rule": "rules",
    "proactive behaviors": "behaviors",
    "proactive behaviours": "behaviors",
    "proactive behavior": "behaviors",
    "proactive behaviour": "behaviors",
    "behaviors": "behaviors",
    "behaviours": "behaviors",
    "proactive": "behaviors",
    "tasks": "tasks",
    "task": "tasks",
    "scheduled tasks": "tasks",
}


@dataclass(frozen=True)
class ChecklistItem:
    text: str
    checked: bool = False


@dataclass(frozen=True)
class Rule:
    text: str
    condition: str | None = None
    action: str | None = None


@dataclass
class Instructions:
    checklist: list[ChecklistItem] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    proactive_behaviors: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    # Tasks on a clock (core/tasks.py): the scheduler runs them; the heartbeat's model never reads them.
    tasks: list[Task] = field(default_factory=list)
    raw: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def is_actionable(self) -> bool:
        """True when the file asks for anything: an open checklist item, a rule, a behaviour, or prose.

        A file of only headings, comments and ticked boxes gives the model nothing to do, so the
        precheck skips the run without spending an LLM call.
        """
        return bool(
            any(not item.checked for item in self.checklist) or self.rules or self.proactive_behaviors or self.other
        )

    @property
    def sha256(self) -> str:
        return content_hash(self.raw)

    @property
    def for_model(self) -> str:
        """The file as the model reads it: without its HTML comments (the template promises that lines inside
        them are ignored, and people keep private notes there; a hosted model must never be sent them), and
        without its Tasks section: a task's time is the clock's to decide, and a model that read "daily
        08:00: post a summary" in every heartbeat would post it whenever it liked (core/tasks.py)."""
        return re.sub(r"\n{3,}", "\n\n", _without_tasks(_COMMENT.sub("", self.raw))).strip()

    def to_dict(self) -> dict[str, object]:
        return {
            "checklist": [{"text": i.text, "checked": i.checked} for i in self.checklist],
            "rules": [{"text": r.text, "condition": r.condition, "action": r.action} for r in self.rules],
            "proactive_behaviors": list(self.proactive_behaviors),
            "other": list(self.other),
            "tasks": [t.to_dict() for t in self.tasks],
            "warnings": list(self.warnings),
            "actionable": self.is_actionable,
        }


def _without_tasks(text: str) -> str:
    """`text` without the lines of its Tasks section (the heading down to the next heading)."""
    kept: list[str] = []
    in_tasks = False
    for line in text.splitlines():
        if _HEADING.match(line):
            in_tasks = _section_of(line) == "tasks"
        if not in_tasks:
            kept.append(line)
    return "\n".join(kept)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


READ_MAX_BYTES = 1_000_000
"""What is read of HEARTBEAT.md (the editor's limit too). A file of tens of megabytes was read whole on
every heartbeat, sent to the model and stored with every run."""


def _read_regular(target: Path, limit: int) -> bytes:
    """Up to `limit` bytes of a regular file. Opened without blocking and checked before reading: a FIFO
    (or a device) at HEARTBEAT.md would otherwise hang the run, or the API thread serving it, for ever.
    A symlink to a regular file is fine (HEARTBEAT.md kept in a dotfiles repository)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(target, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks: list[bytes] = []
        left = limit
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class Unreadable(Exception):
    """The file is not there or cannot be read: a heartbeat has no instructions, which is a failure to say,
    not "nothing to do" (a cron job would never notice a skip)."""


MISSING_ADVICE = (
    "nothing was put in its place; open it in the editor (heartbeat-desktop open editor, or the notification's "
    "Open HEARTBEAT.md), which offers to create it from the template"
)


def what_to_do(unreadable: str) -> str:
    """What to do about a thread's HEARTBEAT.md that a heartbeat could not read (the run's reason says it,
    so History, `status`, `run-now` and the notification all give the same advice)."""
    return MISSING_ADVICE if unreadable.endswith("does not exist") else "put it back or fix its permissions"


def thread_file(default: Path, workspace: Path | None) -> Path:
    """The HEARTBEAT.md a thread reads: its workspace's, else the data folder's (`default`). The editor and the
    API's `?thread=ID` edit this file."""
    return workspace / FILENAME if workspace is not None else default


def read_heartbeat_md(path: Path, *, strict: bool = False) -> tuple[str, list[str]]:
    """Read HEARTBEAT.md (or the file at `path` if it is one). Never raises unless `strict`.

    A missing or unreadable file yields "" and a warning (`check`, the editor: they say so), or with
    `strict` (a heartbeat) raises Unreadable. Past `READ_MAX_BYTES` the rest is not read, and the warning
    says so.
    """
    target = path / FILENAME if path.is_dir() else path
    warnings: list[str] = []
    try:
        data = _read_regular(target, READ_MAX_BYTES + 1)
    except FileNotFoundError:
        if strict:
            raise Unreadable(f"{target} does not exist") from None
        return "", [f"{target} does not exist"]
    except OSError as exc:
        if strict:
            raise Unreadable(f"cannot read {target}: {exc.strerror or exc}") from None
        return "", [f"cannot read {target}: {exc.strerror or exc}"]
    if len(data) > READ_MAX_BYTES:
        data = data[:READ_MAX_BYTES]
        warnings.append(f"{target} is larger than {READ_MAX_BYTES // 1_000_000} MB; only the first MB was read")
    try:
        return data.decode("utf-8-sig"), warnings
    except UnicodeDecodeError as exc:
        if len(data) == READ_MAX_BYTES and exc.start >= READ_MAX_BYTES - 4:  # a character cut at the limit
            return data[: exc.start].decode("utf-8-sig"), warnings
        return data.decode("utf-8", "replace"), [
            *warnings,
            f"{target} is not valid UTF-8 (byte {exc.start}); undecodable bytes replaced",
        ]


def parse(text: str) -> Instructions:
    """Parse HEARTBEAT.md text into its parts. Pure; never raises."""
    instructions = Instructions(raw=text)
    section: str | None = None
    unknown_heading: str | None = None
    task_lines: list[str] = []
    for line in _COMMENT.sub("", text).splitlines():
        if not line.strip():
            continue
        heading = _HEADING.match(line)
        if heading:
            name = re.sub(r"[^a-z ]", "", heading.group(2).lower()).strip()
            section = _SECTION_NAMES.get(name)
            unknown_heading = None if section else heading.group(2)
            continue
        if section == "tasks":
            bullet = _BULLET.match(line)
            task_lines.append((bullet.group(1) if bullet else line).strip())
            continue
        checkbox = _CHECKBOX.match(line)
        if checkbox:
            item_text = checkbox.group(2).strip()
            if item_text:
                instructions.checklist.append(ChecklistItem(item_text, checkbox.group(1) != " "))
            continue
        bullet = _BULLET.match(line)
        item = (bullet.group(1) if bullet else line).strip()
        if not item:
            continue
        if section == "checklist":
            instructions.checklist.append(ChecklistItem(item, False))
        elif section == "rules":
            instructions.rules.append(parse_rule(item))
        elif section == "behaviors":
            instructions.proactive_behaviors.append(item)
        else:
            rule = parse_rule(item)
            if rule.condition is not None and item.lower().startswith(("if ", "when ")):
                instructions.rules.append(rule)
            else:
                instructions.other.append(item if unknown_heading is None else f"{unknown_heading}: {item}")
    instructions.tasks, task_warnings = parse_tasks(task_lines)
    instructions.warnings.extend(task_warnings)
    citable = sum(not i.checked for i in instructions.checklist) + len(instructions.rules)
    citable += len(instructions.proactive_behaviors) + len(instructions.other)
    if citable > ITEMS_MAX:
        instructions.warnings.append(
            f"{citable} items: the prompt numbers the first {ITEMS_MAX} for actions to cite; the rest are still read"
        )
    if text.strip() and not instructions.is_actionable and not instructions.tasks:
        instructions.warnings.append("nothing actionable: only headings, comments or ticked items")
    return instructions


def parse_rule(text: str) -> Rule:
    """Split "If X → Y" (or ->, =>, "then") into condition and action; keep the text either way."""
    for pattern in (_RULE_ARROW, _RULE_THEN, _BARE_ARROW):
        match = pattern.match(text.strip())
        if match:
            return Rule(text=text, condition=match.group(1).strip(), action=match.group(2).strip().rstrip("."))
    return Rule(text=text)


def load(path: Path) -> Instructions:
    text, warnings = read_heartbeat_md(path)
    for warning in warnings:
        log.warning("HEARTBEAT.md: %s", warning)
    instructions = parse(text)
    instructions.warnings[:0] = warnings
    return instructions


def tasks_of(path: Path) -> list[Task]:
    """The tasks of the HEARTBEAT.md at `path` (none when it cannot be read: the heartbeat says why)."""
    return parse(read_heartbeat_md(path)[0]).tasks


def with_rule(text: str, rule: str) -> str:
    """`text` with `rule` as the last line of its Rules section (one made at the end if there is none): what
    "Don't suggest this again" adds, after the user has read and edited it (#26). Everything else is kept
    as it was, to the byte."""
    line = " ".join(rule.split())
    lines = text.splitlines()
    start = next(
        (i for i, raw in enumerate(lines) if _HEADING.match(raw) and _section_of(raw) == "rules"),
        None,
    )
    if start is None:
        body = text.rstrip("\n")
        return f"{body}\n\n## Rules\n{line}\n" if body else f"## Rules\n{line}\n"
    end = next((i for i in range(start + 1, len(lines)) if _HEADING.match(lines[i])), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    lines.insert(end, line)
    return "\n".join(lines) + "\n"


def without_rule(text: str, rule: str) -> str | None:
    """`text` without the last line that reads `rule` (spacing aside): the Undo of "Don't suggest this again".
    Every other byte stays; None when the line is no longer there (the user removed or changed it)."""
    wanted = " ".join(rule.split())
    lines = text.splitlines(keepends=True)
    for i in range(len(lines) - 1, -1, -1):
        if " ".join(lines[i].split()) == wanted:
            return "".join(lines[:i] + lines[i + 1 :])
    return None


def _section_of(heading_line: str) -> str | None:
    heading = _HEADING.match(heading_line)
    if heading is None:
        return None
    return _SECTION_NAMES.get(re.sub(r"[^a-z ]", "", heading.group(2).lower()).strip())


def dont_suggest_rule(action: str, title: str, post_id: int | None = None) -> str:
    """The rule "Don't suggest this again" proposes for a rejected action (the user edits it before it is
    added), in words a user would write. Its subject is the title when that reads as words; a title like
    "default_json" (what a small model posted from an empty thread) made the line read "If the only reason is
    “default_json” again …", which says nothing to the user or the model: such a post is named by its
    number instead ("a post like #12", the number the Feed, History and the model's context show)."""
    subject = " ".join(title.split())[:120]
    if reads_as_words(subject):
        return f"Don't make a {action} about “{subject}” again unless something new calls for it."
    like = f"#{post_id}" if post_id is not None else "the one I marked not useful"
    return f"Don't make a {action} like {like} again unless something new calls for it."


_IDENTIFIER_MARKS = re.compile(r"[_{}\[\]<>=/\\|@$`]")


def reads_as_words(text: str) -> bool:
    """Whether `text` reads as words rather than an identifier or garbage: some letters, and not one unbroken
    token with an underscore, a bracket or a digit among its letters ("default_json", "{x}", "a7f3")."""
    if not any(c.isalpha() for c in text):
        return False
    if " " in text.strip():
        return True
    return not (_IDENTIFIER_MARKS.search(text) or any(c.isdigit() for c in text))


RULE_MIN_CHARS = 15


def rule_warning(line: str) -> str | None:
    """Why a rule line about to be added does not read as a rule yet, or None. A half-typed line ("If the
    thread has no messages -") was added without a word; the user is warned (not stopped: it is their file)."""
    text = " ".join(line.split())
    end = next((mark for mark in ("->", "-", "–", "—", ":", "→", ",") if text.endswith(mark)), None)
    if end is not None:
        return f"it ends with “{end}”, as if something were still to follow"
    if len(text) < RULE_MIN_CHARS:
        return f"it is only {len(text)} characters long"
    return None
