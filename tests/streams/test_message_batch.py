"""`MessageBatch`: messages as columns, and a sequence of `Message` for whoever wants them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from headwater.streams.source import Message, MessageBatch

messages = st.lists(
    st.builds(
        Message,
        partition=st.sampled_from(["0", "1"]),
        offset=st.integers(0, 10**6).map(str),
        value=st.binary(max_size=8),
        timestamp=st.one_of(st.none(), st.floats(0, 2e9)),
        key=st.one_of(st.none(), st.binary(max_size=4)),
        handle=st.one_of(st.none(), st.integers()),
    ),
    max_size=12,
)


@given(messages, messages)
def test_columns_round_trip_and_extend(a: list[Message], b: list[Message]) -> None:
    batch = MessageBatch.of(a)
    assert batch.messages() == a and len(batch) == len(a) and bool(batch) == bool(a)
    batch.extend(MessageBatch.of(b))
    assert batch.messages() == a + b
    assert [batch.key(i) for i in range(len(batch))] == [m.key for m in a + b]
    assert MessageBatch.of(batch) is batch


@given(messages, st.data())
def test_take_keeps_the_chosen_messages_in_that_order(
    a: list[Message], data: st.DataObject
) -> None:
    batch = MessageBatch.of(a)
    chosen = data.draw(st.lists(st.integers(0, max(0, len(a) - 1)), max_size=len(a))) if a else []
    assert batch.take(chosen).messages() == [a[i] for i in chosen]
