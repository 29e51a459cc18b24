"""A patient's home network, built by the test on this machine: a network namespace for the
patient's device, one for the home router (NAT with nftables), and a veth pair to the
"internet" side (the root namespace), where the practice's server and coturn listen on an
address the test created. Nothing leaves the machine: the router has no default route, and
the root namespace sends the home's private range back to the router, which drops it.

Needs root (CAP_NET_ADMIN); tests skip with the reason otherwise, and fail under CI=true.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest

IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"

# What the router forwards from the home to the internet side (answers always come back).
OPEN = "meta l4proto { udp, tcp, icmp }"


def require_network_namespaces() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "network namespace tests need root (CAP_NET_ADMIN); run them as root"
    elif not (os.path.exists(IP) and os.path.exists(NFT)):
        problem = "iproute2 and nftables are needed; scripts/system-deps.sh installs them"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem + " (CI=true: these tests must run)", pytrace=False)
    pytest.skip(problem)


def _run(*args: str, input: str | None = None) -> None:
    result = subprocess.run(args, input=input, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")


def _used_subnets() -> str:
    return subprocess.run(
        [IP, "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout


@dataclass
class HomeNetwork:
    """The patient (192.168.N.2) behind a NAT router (public 10.77.N.2) reaching the
    internet side at 10.77.N.1, where the server and coturn listen."""

    n: int
    tag: str = field(init=False)
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tag = f"th{os.getpid() % 10000}x{self.n}"

    @property
    def patient_ns(self) -> str:
        return f"{self.tag}p"

    @property
    def router_ns(self) -> str:
        return f"{self.tag}r"

    @property
    def public(self) -> str:
        """The internet side's address: the server and coturn listen here."""
        return f"10.77.{self.n}.1"

    @property
    def router_public(self) -> str:
        return f"10.77.{self.n}.2"

    @property
    def patient_address(self) -> str:
        return self.patient_lan(2)

    def patient_lan(self, host: int) -> str:
        return f"192.168.{self.n}.{host}"

    def up(self) -> HomeNetwork:
        n, tag = self.n, self.tag
        for ns in (self.patient_ns, self.router_ns):
            _run(IP, "netns", "add", ns)
            self.created.append(ns)
        root_if = f"{tag}w"
        _run(
            IP,
            "link",
            "add",
            root_if,
            "type",
            "veth",
            "peer",
            "name",
            "wan",
            "netns",
            self.router_ns,
        )
        self.created.append(f"link:{root_if}")
        _run(IP, "addr", "add", f"{self.public}/24", "dev", root_if)
        _run(IP, "link", "set", root_if, "up")
        # The home's private range goes to the router (which drops what it did not ask for),
        # never out of this machine by its default route.
        _run(IP, "route", "add", f"192.168.{n}.0/24", "via", self.router_public)
        r = (IP, "-n", self.router_ns)
        _run(
            *r,
            "link",
            "add",
            "lan",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            self.patient_ns,
        )
        _run(*r, "addr", "add", f"{self.router_public}/24", "dev", "wan")
        _run(*r, "addr", "add", f"{self.patient_lan(1)}/24", "dev", "lan")
        for link in ("lo", "wan", "lan"):
            _run(*r, "link", "set", link, "up")
        _run(IP, "netns", "exec", self.router_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        p = (IP, "-n", self.patient_ns)
        _run(*p, "addr", "add", f"{self.patient_address}/24", "dev", "eth0")
        for link in ("lo", "eth0"):
            _run(*p, "link", "set", link, "up")
        _run(*p, "route", "add", "default", "via", self.patient_lan(1))
        self.firewall(OPEN)
        return self

    def firewall(self, allowed: str) -> None:
        """NAT the home behind the router's public address; forward from the home only
        what `allowed` matches (an nftables expression), to the internet side only."""
        rules = f"""
table ip home
delete table ip home
table ip home {{
  chain forward {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" ip daddr {self.public} {allowed} accept
  }}
  chain postrouting {{
    type nat hook postrouting priority 100;
    oifname "wan" masquerade
  }}
}}
"""
        _run(IP, "netns", "exec", self.router_ns, NFT, "-f", "-", input=rules)

    def lossy(self, percent: int) -> None:
        """The home's link drops `percent` % of UDP packets either way (a weak Wi-Fi)."""
        rules = f"""
table ip weak
delete table ip weak
table ip weak {{
  chain forward {{
    type filter hook forward priority -10; policy accept;
    meta l4proto udp numgen random mod 100 < {percent} drop
  }}
}}
"""
        _run(IP, "netns", "exec", self.router_ns, NFT, "-f", "-", input=rules)

    def move_patient(self, host: int) -> str:
        """The patient's device gets another address (a new network): its old one is gone."""
        p = (IP, "-n", self.patient_ns)
        _run(*p, "addr", "flush", "dev", "eth0")
        _run(*p, "addr", "add", f"{self.patient_lan(host)}/24", "dev", "eth0")
        _run(*p, "route", "replace", "default", "via", self.patient_lan(1))
        return self.patient_lan(host)

    def in_patient(self, *command: str) -> list[str]:
        return [IP, "netns", "exec", self.patient_ns, *command]

    def down(self) -> None:
        for item in reversed(self.created):
            with contextlib.suppress(RuntimeError):
                if item.startswith("link:"):
                    _run(IP, "link", "del", item.removeprefix("link:"))
                else:
                    _run(IP, "netns", "del", item)
        with contextlib.suppress(RuntimeError):
            _run(IP, "route", "del", f"192.168.{self.n}.0/24")
        self.created.clear()


def home_network() -> HomeNetwork:
    """A home network on subnets no route on this machine uses yet."""
    used = _used_subnets()
    for _ in range(50):
        n = random.randint(100, 250)
        if f"10.77.{n}." not in used and f"192.168.{n}." not in used:
            network = HomeNetwork(n)
            try:
                return network.up()
            except BaseException:
                network.down()
                raise
    raise RuntimeError("no free test subnet")
