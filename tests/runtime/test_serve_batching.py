"""clf-serve's Batcher on its own: stdlib asyncio, a plain function as the model (runs without the extra)."""

from __future__ import annotations

import asyncio

import pytest

from clf_runtime.serve.batching import Batcher


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_requests_are_gathered_answered_in_order_and_never_split() -> None:
    calls: list[list[str]] = []

    def model(items: list[str]) -> list[str]:
        calls.append(list(items))
        return [item.upper() for item in items]

    async def main() -> list[list[str]]:
        batcher = Batcher(model, max_batch=4, max_wait_s=5.0)
        await batcher.start()
        jobs = [["a", "b"], ["c"], ["d", "e", "f", "g", "h"], ["i"]]
        for _ in jobs:
            batcher.expect()  # all four arrive before any submits: the first batch waits for them
        answers = await asyncio.gather(*(batcher.submit(j) for j in jobs))
        await batcher.stop()
        return answers

    answers = run(main())
    assert answers == [["A", "B"], ["C"], ["D", "E", "F", "G", "H"], ["I"]]
    # [a, b] + [c] fill 3 of 4; the 5-item request runs alone; [i] after it.
    assert calls == [["a", "b", "c"], ["d", "e", "f", "g", "h"], ["i"]]


def test_a_model_error_reaches_every_request_of_the_batch() -> None:
    def model(items: list[str]) -> list[str]:
        raise ValueError("boom")

    async def main() -> list:
        batcher = Batcher(model, max_batch=8, max_wait_s=0.0)
        await batcher.start()
        results = await asyncio.gather(
            batcher.submit(["a"], expected=False),
            batcher.submit(["b"], expected=False),
            return_exceptions=True,
        )
        assert batcher.running  # the worker survives a failed batch
        await batcher.stop()
        return results

    assert [type(r) for r in run(main())] == [ValueError, ValueError]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(lambda items: items, max_batch=0, max_wait_s=0.0)
