"""A positioned micro-batch keeps, per partition, only messages past the ones before it: a
partition revoked and assigned back while the batch filled is read again from its committed
offset, and committing those repeats would write rows twice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from headwater.streams.processor import _in_order
from headwater.streams.source import Message, MessageBatch


def key(offset: str) -> str:
    return offset.zfill(20)


@given(
    st.dictionaries(
        st.sampled_from(["0", "1", "2"]),
        st.tuples(st.integers(0, 50), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)),
        min_size=1,
    ),
    st.randoms(use_true_random=False),
)
def test_rereads_after_a_reassignment_are_dropped(
    parts: dict[str, tuple[int, int, int, int]], rnd: object
) -> None:
    """Per partition: offsets start+1 .. start+first, then (re-assigned) start+1 .. start+second
    again (+ more); interleaved across partitions in any way that keeps each partition's order."""
    streams: dict[str, list[int]] = {}
    for p, (start, first, second, more) in parts.items():
        again = list(range(start + 1, start + second + more + 1))
        streams[p] = list(range(start + 1, start + first + 1)) + again
    batch: list[Message] = []
    cursors = dict.fromkeys(streams, 0)
    while any(cursors[p] < len(streams[p]) for p in streams):
        p = rnd.choice([q for q in streams if cursors[q] < len(streams[q])])  # type: ignore[attr-defined]
        batch.append(Message(p, str(streams[p][cursors[p]]), b""))
        cursors[p] += 1
    kept = _in_order(MessageBatch.of(batch), {"0", "1"}, key)
    for p, (start, first, second, more) in parts.items():
        got = [int(m.offset) for m in kept if m.partition == p]
        if p == "2":
            assert got == []  # not held any more
        else:
            assert got == list(range(start + 1, start + max(first, second + more) + 1))
