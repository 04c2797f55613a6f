"""Per-job port allocation: two live jobs never get the same rendezvous port.

Claims are rows whose primary key is the port, so two processes claiming the same port at
the same moment collide in the database and one retries. A port that is busy on this host
(some other program listens) is skipped too. Ports are released when the job ends.
"""

from __future__ import annotations

import random
import socket

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import HpcaiError
from core.store import PortAllocation, Store


def _free_here(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def allocate_ports(store: Store, job_uuid: str, count: int, port_range: tuple[int, int]) -> list[int]:
    if count <= 0:
        return []
    low, high = port_range
    span = high - low + 1
    got: list[int] = []
    start = random.randrange(span)
    for attempt in range(span):
        port = low + (start + attempt) % span
        with store.session() as s:
            taken = s.scalar(select(PortAllocation.port).where(PortAllocation.port == port))
        if taken is not None or not _free_here(port):
            continue
        try:
            with store.session() as s:
                s.add(PortAllocation(port=port, job_uuid=job_uuid))
        except IntegrityError:
            continue  # another submission claimed it between our check and our insert
        got.append(port)
        if len(got) == count:
            return got
    release_ports(store, job_uuid)
    raise HpcaiError(f"no free port left in {low}-{high} for {count} port(s)",
                     fix="widen [core] port_range in etc/hpcai.toml or wait for jobs to end")


def release_ports(store: Store, job_uuid: str) -> None:
    with store.session() as s:
        release_ports_in(s, [job_uuid])


def release_ports_in(session: Session, job_uuids: list[str]) -> None:
    """Release the ports of many ended jobs inside the caller's transaction."""
    for i in range(0, len(job_uuids), 500):  # bounded IN lists (SQLite's variable limit)
        session.execute(delete(PortAllocation).where(PortAllocation.job_uuid.in_(job_uuids[i:i + 500])))
