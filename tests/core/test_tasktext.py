"""A task's title and description are plain text, bounded, and checked when the post is applied."""

from __future__ import annotations

import pytest

from app.core.errors import EncodingError, SizeLimitExceeded
from app.core.tasktext import InvalidTaskText, check_task_text
from app.core.types import MAX_TASK_DESCRIPTION, MAX_TASK_TITLE, TaskSpec
from tests.core.chainkit import Chain, spec


def test_a_titled_task_is_posted_and_its_words_are_kept_on_chain() -> None:
    chain = Chain()
    words = spec(title="Handwritten digits, augmented", description="A small MLP.\nÉté: 8x8 images, 10 classes.")
    tx = chain.post_task(chain.users[0], task_spec=words)
    chain.advance([tx])
    task = chain.state.task(tx.tx_id)
    assert task is not None and (task.spec.title, task.spec.description) == (words.title, words.description)
    assert TaskSpec.decode(words.encode()) == words


@pytest.mark.parametrize(
    "title, description, why",
    [
        ("\x1b[2Jpay me", "", "control"),  # a terminal escape: clears the screen of whoever lists tasks
        ("digits\u202egnp.exe", "", "format"),  # a bidi override: reads differently from its bytes
        ("zero\u200bwidth", "", "format"),
        ("two\nlines", "", "control"),
        ("   ", "", "white space"),
        ("ok", "line\r\nbreak", "control"),
        ("", "a description without a title", "needs a title"),
    ],
)
def test_text_that_a_terminal_or_label_would_act_on_is_refused(title: str, description: str, why: str) -> None:
    chain = Chain()
    bad = spec(title=title, description=description)
    with pytest.raises(InvalidTaskText, match=why):
        check_task_text(bad)
    with pytest.raises(InvalidTaskText):  # the state machine refuses the post itself
        chain.state.apply_tx(chain.post_task(chain.users[0], task_spec=bad), bytes(20))


def test_lengths_are_bounded_by_the_encoding() -> None:
    assert spec(title="t" * MAX_TASK_TITLE, description="d" * MAX_TASK_DESCRIPTION).title
    with pytest.raises((EncodingError, SizeLimitExceeded)):
        spec(title="t" * (MAX_TASK_TITLE + 1))
    with pytest.raises((EncodingError, SizeLimitExceeded)):
        spec(title="t", description="d" * (MAX_TASK_DESCRIPTION + 1))
