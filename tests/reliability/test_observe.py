"""Instances and health with real processes and real stores (#12).

* A SIGKILLed instance stays listed until its lease expires, then drops out of
  ``instances()``; a peer's row stays; a clean stop removes its row at once.
* ``health()`` turns false while the store is cut off (the fault proxy refuses connections)
  and true again once the store answers.

Leases are 1 s (workers) or 1.5 s (in-process), so each test waits about that long.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from scheduler import Scheduler
from scheduler.stores import from_url
from tests.reliability.conftest import attached
from tests.services import require

from .conftest import SharedStore
from .faults import FaultProxy, wait_until

HANG = 30.0  # hang guard (seconds), never a measurement


@pytest.mark.slow
def test_a_sigkilled_instance_leaves_the_list_after_its_lease(shared: SharedStore) -> None:
    victim = shared.worker(shared.spec([], lease=1.0), name="victim")
    peer = shared.worker(shared.spec([], lease=1.0), name="peer")
    victim_pid = int(victim.wait_for("started").split()[1])
    peer_pid = int(peer.wait_for("started").split()[1])
    web = Scheduler(store=shared.open())  # a process that never starts its scheduler
    assert {info.pid for info in web.instances()} == {victim_pid, peer_pid}
    victim.kill()
    wait_until(
        lambda: {info.pid for info in web.instances()} == {peer_pid},
        HANG,
        "the killed instance to drop out once its lease expired",
    )
    (info,) = web.instances()
    assert info.instance.split(":")[1] == str(peer_pid)  # the peer kept beating meanwhile
    assert peer.stop() == 0
    assert web.instances() == []  # a clean shutdown removes its row at once


class _Outage(logging.Handler):
    """Sets an event when the scheduler logs that the store went away and came back."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.down = threading.Event()
        self.back = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("store unavailable"):
            self.down.set()
        elif message.startswith("store available again"):
            self.back.set()


@pytest.fixture
def outage_log() -> Iterator[_Outage]:
    yield from attached(_Outage())


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ],
)
def test_health_is_false_while_the_store_is_down_and_true_after(
    make_shared, kind: str, outage_log: _Outage
) -> None:
    shared: SharedStore = make_shared(kind)
    require(kind)
    timeouts = {"connect_timeout": 1.0} if kind == "postgresql" else {"socket_timeout": 2.0}
    with FaultProxy(shared.url) as proxy:
        store = from_url(proxy.url, prefix=shared.prefix, **timeouts)
        sched = Scheduler(store=store, lease_seconds=1.5)
        sched.start()
        try:
            health = sched.health()
            assert health.ok, health.reasons
            proxy.down()  # every connection cut, new ones refused
            assert outage_log.down.wait(HANG), "the scheduler never noticed the outage"
            health = sched.health()
            assert not health.ok
            assert not health.store_reachable
            assert health.reasons == ["the store cannot be reached"]
            assert health.to_dict()["store_reachable"] is False
            proxy.up()
            assert outage_log.back.wait(HANG), "the scheduler never saw the store again"
            health = sched.health()
            assert health.ok, health.reasons
            assert health.store_reachable
        finally:
            proxy.up()
            sched.shutdown()
