"""Plumbing: which address a request came from. HTTP requests and socket handshakes are
audited with the same one."""

from __future__ import annotations


def client_address(remote: str | None, forwarded_for: str, *, trust_proxy: bool) -> str | None:
    """The caller's address: the connection's peer or, behind a trusted proxy, the last hop
    the proxy added to `X-Forwarded-For` (what came before it the client could have made up)."""
    if trust_proxy:
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if hops:
            return hops[-1][:64]
    return remote
