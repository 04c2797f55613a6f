"""libaiflow's metric queue on its own: order, bound, retry and refusal, with a sender that records
what it was given (the queue's own interface; the real MLflow path is tests/tracking/test_metric_queue.py)."""

from __future__ import annotations

import time

from libaiflow.metric_queue import MetricQueue, SendFailed, Value


class Server:
    """Takes batches while `up`; otherwise fails as a server that is down (or refuses)."""

    def __init__(self) -> None:
        self.up, self.refuse, self.got, self.requests = True, False, [], 0

    def __call__(self, run_id: str, values: list[Value]) -> None:
        self.requests += 1
        if self.refuse:
            raise SendFailed("RESOURCE_DOES_NOT_EXIST: run gone", retry=False)
        if not self.up:
            raise SendFailed("Connection refused", retry=True)
        assert len(values) <= 1000 and {v.run_id for v in values} == {run_id}
        self.got += [(v.run_id, v.key, v.step) for v in values]


def queue(server: Server, said: list[str], **kw: float) -> MetricQueue:
    return MetricQueue(server, said.append, interval_s=kw.pop("interval_s", 0.05), max_backoff_s=0.2, **kw)


def test_values_arrive_in_order_in_batches_and_flush_waits_for_them() -> None:
    server, said = Server(), []
    q = queue(server, said)
    for i in range(2500):
        q.put("r1" if i < 1500 else "r2", "loss", 1.0, 0, i)
    assert q.flush(10)
    assert server.got == [("r1" if i < 1500 else "r2", "loss", i) for i in range(2500)]
    assert server.requests <= 4 and q.pending == 0 and said == []


def test_server_down_keeps_values_warns_once_and_sends_them_when_back() -> None:
    server, said = Server(), []
    server.up = False
    q = queue(server, said)
    for i in range(100):
        q.put("r", "acc", 0.5, 0, i)
    assert not q.flush(0.5)  # bounded wait; nothing lost
    assert q.pending == 100 and len([s for s in said if "could not be sent" in s]) == 1
    server.up = True
    assert q.flush(10)
    assert [step for _, _, step in server.got] == list(range(100))
    assert "answers again" in said[-1]


def test_the_queue_is_bounded_oldest_dropped_and_counted() -> None:
    server, said = Server(), []
    server.up = False
    q = queue(server, said, max_pending=50, interval_s=60)
    for i in range(80):
        q.put("r", "x", 0.0, 0, i)
    assert q.pending == 50 and q.dropped == 30
    assert sum("oldest are dropped" in s for s in said) == 1
    server.up = True
    assert q.flush(10)
    assert [step for _, _, step in server.got] == list(range(30, 80))


def test_refused_values_are_dropped_with_a_warning_not_retried_forever() -> None:
    server, said = Server(), []
    server.refuse = True
    q = queue(server, said)
    q.put("gone", "x", 0.0, 0, 0)
    assert q.flush(10)
    assert q.dropped == 1 and "refused 1 metric value(s) of run gone" in said[0]
    time.sleep(0.2)
    assert server.requests == 1
