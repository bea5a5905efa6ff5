"""A task's title and description: the requester's words for people, checked as plain text.

The window and the CLI show them beside the hashes, so a post must not carry what a terminal or a
label would act on (escape sequences, other control characters, bidirectional overrides that make
text read differently from its bytes) or what hides (a title of spaces). Lengths are bounded by the
encoding (`MAX_TASK_TITLE`, `MAX_TASK_DESCRIPTION` code points). Pure checks; no I/O.
"""

from __future__ import annotations

from app.core.errors import InvalidTransaction
from app.core.types import TaskSpec

# Refused code points, as explicit ranges rather than Unicode categories: the check decides a block's
# validity, so it must not change with a node's Unicode database. C0 and C1 controls and DEL, then the
# format characters that hide or reorder text (Trojan Source, CVE-2021-42574): soft hyphen, Arabic
# letter mark, zero-width and directional marks, bidi embeddings/overrides/isolates, word joiners and
# invisible operators, the byte-order mark, interlinear annotation marks, and surrogates.
_REFUSED = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x061C, 0x061C),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x206F),
    (0xD800, 0xDFFF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
)


class InvalidTaskText(InvalidTransaction):
    """A task's title or description is not plain text."""


def check_task_text(spec: TaskSpec) -> None:
    """Raise `InvalidTaskText` unless the title is one trimmed line and the description plain text
    (line breaks allowed there), both free of control and format characters."""
    _check("title", spec.title, newlines=False)
    _check("description", spec.description, newlines=True)
    if spec.description and not spec.title:
        raise InvalidTaskText("a task with a description needs a title")


def _check(field: str, text: str, *, newlines: bool) -> None:
    if text != text.strip(" \n"):  # explicit, not str.strip(): independent of the Unicode database
        raise InvalidTaskText(f"the {field} starts or ends with white space")
    for i, ch in enumerate(text):
        if newlines and ch == "\n":
            continue
        if any(lo <= ord(ch) <= hi for lo, hi in _REFUSED):
            raise InvalidTaskText(f"the {field} holds a control or format character (U+{ord(ch):04X} at {i})")
