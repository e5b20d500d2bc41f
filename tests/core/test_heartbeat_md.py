from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from heartbeat_desktop.core.heartbeat_md import parse, parse_rule, read_heartbeat_md

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_template() -> None:
    md = """## Checklist
- [ ] Item 1
- [x] Item 2

## Rules
If condition → action.
If it rains -> take an umbrella
When the build breaks, then post a warning

## Proactive Behaviors
- Behavior 1
- Behavior 2
"""
    ins = parse(md)
    assert [(i.text, i.checked) for i in ins.checklist] == [("Item 1", False), ("Item 2", True)]
    assert [(r.condition, r.action) for r in ins.rules] == [
        ("condition", "action"),
        ("it rains", "take an umbrella"),
        ("the build breaks", "post a warning"),
    ]
    assert ins.proactive_behaviors == ["Behavior 1", "Behavior 2"]
    assert ins.raw == md
    assert ins.is_actionable


def test_heading_case_and_british_spelling() -> None:
    ins = parse("# CHECKLIST\n* [ ] a\n### proactive behaviours\n1. be kind\n#### RULES\n- if x then y\n")
    assert ins.checklist[0].text == "a"
    assert ins.proactive_behaviors == ["be kind"]
    assert ins.rules[0].condition == "x" and ins.rules[0].action == "y"


def test_only_headings_and_comments_is_not_actionable() -> None:
    ins = parse("# HEARTBEAT\n<!-- put things here\n- [ ] not real -->\n## Checklist\n## Rules\n")
    assert not ins.is_actionable
    assert ins.checklist == []
    assert ins.warnings


def test_all_ticked_is_not_actionable() -> None:
    assert not parse("## Checklist\n- [x] done\n- [X] also done\n").is_actionable


def test_free_prose_is_actionable() -> None:
    ins = parse("Post a haiku about the weather every morning.")
    assert ins.is_actionable and ins.other


def test_rule_without_arrow_is_kept() -> None:
    rule = parse_rule("Be polite.")
    assert rule.text == "Be polite." and rule.condition is None


def test_missing_file_gives_empty_text_and_a_warning(tmp_path: Path) -> None:
    text, warnings = read_heartbeat_md(tmp_path)
    assert text == "" and "does not exist" in warnings[0]


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "HEARTBEAT.md").mkdir()  # a directory where the file should be: reading fails
    text, warnings = read_heartbeat_md(tmp_path)
    assert text == "" and "cannot read" in warnings[0]


def test_invalid_utf8_is_replaced_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "HEARTBEAT.md").write_bytes(b"## Rules\nIf \xff -> y\n")
    text, warnings = read_heartbeat_md(tmp_path)
    assert "\ufffd" in text and "UTF-8" in warnings[0]


def test_shipped_default_is_useful() -> None:
    ins = parse((REPO / "HEARTBEAT.md").read_text(encoding="utf-8"))
    assert len(ins.checklist) >= 3 and len(ins.rules) >= 3 and len(ins.proactive_behaviors) >= 3
    assert all(r.condition and r.action for r in ins.rules)
    assert not ins.warnings


@settings(max_examples=3000, deadline=None)
@given(st.text(max_size=500))
def test_parse_never_raises(text: str) -> None:
    ins = parse(text)
    assert ins.raw == text


def test_comments_end_where_commonmark_ends_them() -> None:
    """The second README-only attack (#25): `<!--->` (a whole, empty comment) hid everything after it, and
    `--!>` did not close one; `check` and the model must read the same file."""
    from heartbeat_desktop.core.heartbeat_md import parse

    for text, item in (
        ("<!--->\n- [ ] do it\n<!-- -->\n", "do it"),
        ("<!-->\n- [ ] empty comment first\n", "empty comment first"),
        ("<!-- a --!>\n- [ ] after bang\n", "after bang"),
        ("<!--- three dashes -->\n- [ ] d\n", "d"),
    ):
        parsed = parse(text)
        assert [i.text for i in parsed.checklist] == [item], text
        assert item in parsed.for_model and "<!--" not in parsed.for_model
    assert parse("<!-- unclosed\n- [ ] hidden").checklist == []


def test_a_rule_goes_at_the_end_of_the_rules_and_everything_else_stays() -> None:
    from heartbeat_desktop.core.heartbeat_md import parse, with_rule

    text = "# Mine\n\n## Checklist\n- [ ] a\n\n## Rules\nIf x → y.\n\n\n## Proactive behaviours\n- b\n"
    added = with_rule(text, "  If z   → HEARTBEAT_OK. ")
    assert added == text.replace("If x → y.\n", "If x → y.\nIf z → HEARTBEAT_OK.\n")
    assert [r.text for r in parse(added).rules] == ["If x → y.", "If z → HEARTBEAT_OK."]
    assert with_rule("## Checklist\n- [ ] a", "If z → w.") == "## Checklist\n- [ ] a\n\n## Rules\nIf z → w.\n"
    assert with_rule("", "If z → w.") == "## Rules\nIf z → w.\n"


def test_undoing_a_rule_takes_out_its_line_and_nothing_else() -> None:
    from heartbeat_desktop.core.heartbeat_md import with_rule, without_rule

    text = "# Mine\r\n\r\n## Rules\r\nIf x → y.\r\n\r\n## Proactive behaviours\r\n- b\r\n"
    added = with_rule(text, "If z → HEARTBEAT_OK.")
    assert without_rule(added, "  If z  → HEARTBEAT_OK.") is not None
    assert without_rule(text + "If z → HEARTBEAT_OK.\n", "If z → HEARTBEAT_OK.") == text  # the bytes as they were
    assert without_rule(text, "If z → HEARTBEAT_OK.") is None  # removed or changed by the user since: said so


def test_dont_suggest_rule_is_in_a_users_words() -> None:
    """Rough edges #4: a title that reads as words is the rule's subject; an identifier is named by number."""
    from heartbeat_desktop.core.heartbeat_md import dont_suggest_rule, reads_as_words, rule_warning

    assert dont_suggest_rule("post", "Water the plants", 4) == (
        "Don't make a post about “Water the plants” again unless something new calls for it."
    )
    for garbage in ("default_json", "a7f3e9", "{}", "", "   "):
        assert not reads_as_words(garbage), garbage
        assert (
            dont_suggest_rule("post", garbage, 12)
            == "Don't make a post like #12 again unless something new calls for it."
        )
    assert reads_as_words("Reminder") and reads_as_words("Follow-up: dentist on 12 May")
    assert rule_warning("If the thread has no messages -") == "it ends with “-”, as if something were still to follow"
    assert rule_warning("When asked:") is not None and rule_warning("No posts") == "it is only 8 characters long"
    assert rule_warning(dont_suggest_rule("post", "default_json", 12)) is None
