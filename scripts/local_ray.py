"""A Ray cluster of several nodes on this machine, for the Ray tests and benchmark (`search --launcher ray`).

Each node is a `ray start --block` process in a session of its own, with its own free ports, all under one temporary
folder: stopping the cluster kills exactly those sessions (never `ray stop`, which would stop every Ray on the
machine).

    with local_ray_cluster(nodes=2, cpus_per_node=1) as cluster:
        ... search --launcher ray --ray-address {cluster.address} ...
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from scripts.local_services import free_port

RAY = Path(sys.executable).parent / "ray"
STARTED = "Ray runtime started"


class LocalRayCluster:
    """A head and more nodes started on this machine in `folder` (short: Ray's socket paths must stay short)."""

    def __init__(self, folder: Path, cpus_per_node: int = 1):
        self.folder, self.cpus_per_node = folder, cpus_per_node
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []

    def node_command(self, head: bool) -> list[str]:
        ports = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                 "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
        command = [str(RAY), "start", "--block", "--num-cpus", str(self.cpus_per_node), "--disable-usage-stats",
                   "--object-store-memory", str(100 * 2**20)]
        command += [word for option in ports for word in (option, str(free_port()))]
        if head:
            return command + ["--head", "--port", str(self.port), "--temp-dir", str(self.folder / "ray"),
                              "--include-dashboard", "false", "--dashboard-port", str(free_port()),
                              "--ray-client-server-port", str(free_port())]
        return command + ["--address", self.address]

    def add_node(self, env: dict[str, str] | None = None, seconds: float = 180) -> subprocess.Popen:
        """Start one more node (the head first) and wait until Ray says it runs; `env` adds to its environment."""
        head = not self.nodes
        log = self.folder / f"node-{len(self.nodes)}.log"
        environment = {**os.environ, "RAY_enable_metrics_collection": "0", **(env or {})}
        with open(log, "w") as out:
            node = subprocess.Popen(self.node_command(head), env=environment, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.nodes.append(node)
        deadline = time.monotonic() + seconds
        while STARTED not in log.read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Ray node did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        return node

    def remove_node(self, node: subprocess.Popen) -> None:
        """Kill a node and every process of its session at once, as a machine that is lost."""
        try:
            os.killpg(node.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        node.wait()

    def stop(self) -> None:
        """Kill every node this cluster started (its raylet, its Ray workers and their children die with it)."""
        for node in reversed(self.nodes):
            self.remove_node(node)


@contextmanager
def local_ray_cluster(nodes: int = 2, cpus_per_node: int = 1):
    """Start a head and `nodes - 1` more nodes on this machine; kill them all on the way out."""
    folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    cluster = LocalRayCluster(folder, cpus_per_node)
    try:
        for _ in range(nodes):
            cluster.add_node()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
