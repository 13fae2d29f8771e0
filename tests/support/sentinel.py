"""A Redis primary, one replica and three sentinels on free loopback ports, for failover tests.

:class:`SentinelRedis` quacks like :class:`~tests.support.services.RedisServer` where the chaos
cluster needs it (``url``, ``start``, ``stop``): its ``url`` is the ``redis+sentinel://`` URL
every vbq role reads (:mod:`vbq.redisconn`). :meth:`SentinelRedis.kill_primary` SIGKILLs
whichever server is the primary now; :meth:`SentinelRedis.wait_failover` waits until the
sentinels name another one; :meth:`SentinelRedis.restart` brings a killed server back, as a
supervisor would (the sentinels turn it into a replica of the new primary).
"""

from __future__ import annotations

import time
from pathlib import Path

import redis
from vbq_demo.redis_binary import find_redis_server

from tests.support.services import ManagedProcess, free_port

__all__ = ["MASTER_NAME", "SentinelRedis"]

MASTER_NAME = "vbqprimary"
DOWN_AFTER_MS = 1000
"""How long the sentinels wait before calling the primary down (production: 5000-30000)."""


class SentinelRedis:
    """Two ``redis-server`` (primary + replica, AOF on) and three sentinels (quorum 2)."""

    def __init__(self, root: Path, *, sentinels: int = 3) -> None:
        self.root = root
        self.server_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.servers: dict[int, ManagedProcess] = {}
        self.sentinels: list[ManagedProcess] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SentinelRedis:
        """Start primary, replica (in sync) and sentinels (all seeing both); fail loudly."""
        primary, replica = self.server_ports
        self._start_server(primary)
        self._start_server(replica, replica_of=primary)
        self._wait_in_sync(primary)
        for port in self.sentinel_ports:
            self._start_sentinel(port, primary)
        self._wait_sentinels_ready()
        return self

    def stop(self) -> None:
        for proc in [*self.sentinels, *self.servers.values()]:
            proc.stop(timeout_s=5)

    def _start_server(self, port: int, *, replica_of: int | None = None) -> None:
        data = self.root / f"redis-{port}"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            find_redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--protected-mode",
            "no",
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ]
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.servers[port] = ManagedProcess(
            f"redis-{port}", argv, log_dir=self.root, port=port
        ).start()

    def _start_sentinel(self, port: int, primary: int) -> None:
        conf = self.root / f"sentinel-{port}.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {port}",
                    "bind 127.0.0.1",
                    "protected-mode no",
                    f"dir {self.root}",
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2",
                    f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {MASTER_NAME} 10000",
                    f"sentinel parallel-syncs {MASTER_NAME} 1",
                    "",
                ]
            )
        )
        argv = [find_redis_server(), str(conf), "--sentinel"]
        proc = ManagedProcess(f"sentinel-{port}", argv, log_dir=self.root, port=port).start()
        self.sentinels.append(proc)

    def _wait_in_sync(self, primary: int, timeout_s: float = 20.0) -> None:
        client = redis.Redis(port=primary)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                info = client.info("replication")
                slave = info.get("slave0")
                if isinstance(slave, dict) and slave.get("state") == "online":
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica never came online: {info}")
                time.sleep(0.1)
        finally:
            client.close()

    def _wait_sentinels_ready(self, timeout_s: float = 30.0) -> None:
        """Every sentinel knows the replica and the other sentinels (else no failover)."""
        deadline = time.monotonic() + timeout_s
        for port in self.sentinel_ports:
            client = redis.Redis(port=port, decode_responses=True)
            try:
                while True:
                    master = client.sentinel_master(MASTER_NAME)
                    others = int(master.get("num-other-sentinels", 0))
                    replicas = int(master.get("num-slaves", 0))
                    if others >= len(self.sentinel_ports) - 1 and replicas >= 1:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"sentinel {port} not ready: {master}")
                    time.sleep(0.2)
            finally:
                client.close()

    # -- faults -------------------------------------------------------------------------------

    def primary_port(self) -> int:
        """The port the sentinels currently name as primary (asks one that answers)."""
        for port in self.sentinel_ports:
            client = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
            try:
                _host, master_port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                return int(master_port)
            except redis.RedisError:
                continue
            finally:
                client.close()
        raise RuntimeError("no sentinel answered")

    def kill_primary(self) -> int:
        """SIGKILL the current primary; returns its port."""
        port = self.primary_port()
        self.servers[port].kill()
        return port

    def views(self) -> list[int | None]:
        """The primary's port according to each sentinel (None: it did not answer)."""
        out: list[int | None] = []
        for port in self.sentinel_ports:
            client = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
            try:
                out.append(int(client.sentinel_get_master_addr_by_name(MASTER_NAME)[1]))
            except (redis.RedisError, TypeError):
                out.append(None)
            finally:
                client.close()
        return out

    def wait_failover(self, old_port: int, timeout_s: float = 60.0) -> float:
        """Wait until *every* sentinel names the same primary other than ``old_port`` and it
        accepts writes; returns the seconds it took.

        All of them, because a sentinel still naming the old primary would hand clients the
        old server as soon as it restarts (as a replica: READONLY until that sentinel learns).
        """
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            seen = set(self.views())
            if len(seen) == 1 and (port := seen.pop()) not in (None, old_port):
                client = redis.Redis(port=port, socket_timeout=1)
                try:
                    if client.info("replication").get("role") == "master":
                        return time.monotonic() - t0
                except redis.RedisError:
                    pass
                finally:
                    client.close()
            time.sleep(0.1)
        raise RuntimeError(f"no agreed failover away from {old_port}: {self.views()}")

    def restart(self, port: int) -> None:
        """Start the killed server on ``port`` again (same data dir) as a replica of the
        current primary, as a supervisor does (the Bitnami chart, an operator): left alone,
        the sentinels demote a returning primary only after 10 to 60 s."""
        old = self.servers[port]
        argv = list(old.argv)
        if "--replicaof" in argv:
            at = argv.index("--replicaof")
            del argv[at : at + 3]
        argv += ["--replicaof", "127.0.0.1", str(self.primary_port())]
        self.servers[port] = ManagedProcess(old.name, argv, log_dir=self.root, port=port).start()

    def wait_replica_online(self, timeout_s: float = 30.0) -> None:
        """Wait until the current primary has a replica in sync again."""
        self._wait_in_sync(self.primary_port(), timeout_s=timeout_s)
