"""A second Docker engine on this machine, for tests and benchmarks that need two real engines.

``Dockerd`` starts ``dockerd`` with its own socket, data root, exec root and pid file **in its own
network namespace** (``unshare --net``, then ``ip link set lo up`` inside it — or the same two ioctls
from Python where iproute2 is missing). Started in the
host's namespace, a second daemon takes over the host's ``docker0`` bridge and iptables chains:
the first engine's bridged containers fail ("could not find bridge docker0") until it restarts.
In a namespace of its own it makes its own ``docker0`` there, and the first engine never sees it
— ``start`` checks that the daemon's namespace is not ours before it waits for the daemon, and
stops it at once if it is.

It needs root, ``unshare`` and ``dockerd`` (``.ci/docker.sh`` installs the engine). Images come
from the first engine: ``docker save | docker -H <socket> load`` (no registry anywhere).

    with Dockerd.started(images=["forkwave/base:bookworm"]) as second:
        docker.DockerClient(base_url=second.url).containers.run(...)
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
# `ip link set lo up` without iproute2: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP (struct ifreq is 40 bytes)
LO_UP = ("import fcntl, socket, struct; s = socket.socket(); get = struct.pack('16sH22x', b'lo', 0); "
         "flags = struct.unpack('16sH22x', fcntl.ioctl(s, 0x8913, get))[1]; "
         "fcntl.ioctl(s, 0x8914, struct.pack('16sH22x', b'lo', flags | 1))")


def problem() -> str | None:
    """Why a second engine cannot be started here (None: it can)."""
    if os.geteuid() != 0:
        return "a second dockerd needs root (run the docker tests as root, as CI does)"
    missing = [tool for tool in ("dockerd", "unshare", "docker") if shutil.which(tool) is None]
    if missing:
        return f"a second dockerd needs {', '.join(missing)} (bash .ci/docker.sh installs the engine)"
    return None


def _netns(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


class Dockerd:
    def __init__(self, root: Path | None = None):
        # a short folder: containerd's socket lives under the exec root, and a unix socket path has 108 bytes
        self.root = root or Path(tempfile.mkdtemp(prefix="fwd-", dir="/tmp"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.root / "dockerd.log"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Dockerd:
        why = problem()
        if why:
            raise RuntimeError(why)
        for sub in ("data", "exec"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        daemon = (f"exec dockerd --host {self.url} --data-root {self.root / 'data'} --exec-root {self.root / 'exec'} "
                  f"--pidfile {self.root / 'docker.pid'} --shutdown-timeout 3")
        lo_up = "ip link set lo up" if shutil.which("ip") else f"{shlex.quote(sys.executable)} -c {shlex.quote(LO_UP)}"
        with open(self.log, "wb") as log:
            # unshare execs sh, sh execs dockerd: the Popen's pid is the daemon's
            self.proc = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", f"{lo_up} && {daemon}"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        self._own_namespace()
        self._wait_until_it_answers()
        return self

    def _own_namespace(self) -> None:
        """The daemon must not share our network namespace (the first engine's bridge would go)."""
        assert self.proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the second dockerd exited ({self.proc.returncode}): {self.tail()}")
            try:
                theirs = _netns(self.proc.pid)
            except OSError:
                time.sleep(0.05)
                continue
            if theirs != _netns("self"):
                return
            time.sleep(0.05)  # unshare has not run yet: still our namespace
        self.proc.kill()
        raise RuntimeError("the second dockerd is in this machine's network namespace (unshare --net did not "
                           "take): stopped it before it could touch docker0")

    def _wait_until_it_answers(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the second dockerd exited ({self.proc.returncode}): {self.tail()}")
            if self.socket.exists() and self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the second dockerd did not answer within {START_TIMEOUT:g} s: {self.tail()}")

    def docker(self, *args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[bytes]:
        """The docker CLI against this engine."""
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
        return subprocess.run(["docker", "-H", self.url, *args], env=env, capture_output=True, check=check,
                              timeout=300, **kw)  # type: ignore[call-overload]

    def load(self, images: Sequence[str]) -> None:
        """``docker save <image> | docker -H <this engine> load``, from the first engine."""
        for image in images:
            save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            loaded = self.docker("load", "-q", stdin=save.stdout, check=False)
            assert save.stdout is not None
            save.stdout.close()
            if save.wait() != 0 or loaded.returncode != 0:
                raise RuntimeError(f"could not load {image} into the second dockerd: "
                                   f"{(save.stderr.read() if save.stderr else b'').decode()} {loaded.stderr.decode()}")

    def stop(self) -> None:
        """SIGTERM (the daemon stops its containers and its containerd), SIGKILL if it lingers; then its folders go."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._unmount()
        shutil.rmtree(self.root, ignore_errors=True)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _unmount(self) -> None:
        """Mounts a killed daemon left under its data root (overlay layers, its netns file)."""
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if line.split()[4].startswith(str(self.root) + "/")]
        for target in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)

    def tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @classmethod
    @contextmanager
    def started(cls, images: Sequence[str] = ()) -> Iterator[Dockerd]:
        daemon = cls()
        try:
            daemon.start()
            daemon.load(images)
            yield daemon
        finally:
            daemon.stop()
