"""The connection manager: rebuild, keep the old client on failure, close when idle."""

from __future__ import annotations

import socket
import threading
from typing import Any

from agent.providers.connection import ConnectionManager


class FakeClient:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Builder:
    def __init__(self) -> None:
        self.built: list[FakeClient] = []
        self.fail_next = False
        self.hooks: list[Any] = []

    def __call__(self, on_request: Any) -> FakeClient:
        if self.fail_next:
            raise RuntimeError("bad proxy setting")
        self.hooks.append(on_request)
        client = FakeClient(len(self.built) + 1)
        self.built.append(client)
        return client


def manager(builder: Builder) -> ConnectionManager[FakeClient]:
    return ConnectionManager("test_wire", builder, lambda client: client.close())


def test_reset_builds_a_new_client_and_closes_the_idle_old_one() -> None:
    builder = Builder()
    connections = manager(builder)
    first = connections.client
    report = connections.reset("retry")
    assert report.ok and report.caller == "retry" and report.wire == "test_wire"
    assert connections.client is not first and first.closed


def test_failed_rebuild_keeps_the_old_client_and_says_why() -> None:
    builder = Builder()
    connections = manager(builder)
    first = connections.client
    builder.fail_next = True
    report = connections.reset("stale")
    assert not report.ok and "bad proxy setting" in report.detail
    assert connections.client is first and not first.closed


def test_a_leased_client_is_closed_only_when_its_stream_ends() -> None:
    builder = Builder()
    connections = manager(builder)
    with connections.lease() as client:
        connections.reset("stale")
        assert not client.closed  # its owner is still reading: never close under it
    assert client.closed


def test_reset_shuts_down_tracked_sockets_so_blocked_reads_wake() -> None:
    builder = Builder()
    connections = manager(builder)
    server = socket.create_server(("127.0.0.1", 0))
    client_sock = socket.create_connection(server.getsockname())
    peer, _ = server.accept()

    class Stream:
        def get_extra_info(self, name: str) -> Any:
            return client_sock if name == "socket" else None

    class Request:
        extensions: dict[str, Any] = {}

    request = Request()
    builder.hooks[0](request)
    request.extensions["trace"]("connection.connect_tcp.complete", {"return_value": Stream()})
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(client_sock.recv(10)))
    reader.start()
    report = connections.reset("stale")
    reader.join(timeout=2)
    assert not reader.is_alive() and received == [b""]
    assert report.sockets_shut == 1
    assert peer.recv(10) == b""  # the server side sees the connection end
    for sock in (client_sock, peer, server):
        sock.close()


def _connected_pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    client_sock = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    return server, client_sock, peer


def _report_connect(builder: Builder, sock: socket.socket, hook: int = 0) -> None:
    class Stream:
        def get_extra_info(self, name: str) -> Any:
            return sock if name == "socket" else None

    class Request:
        extensions: dict[str, Any] = {}

    request = Request()
    builder.hooks[hook](request)
    request.extensions["trace"]("connection.connect_tcp.complete", {"return_value": Stream()})


def test_a_stream_leased_before_a_kill_is_cut_off_even_if_it_connects_after_it() -> None:
    builder = Builder()
    connections = manager(builder)
    server, client_sock, peer = _connected_pair()
    leased = threading.Event()
    killed = threading.Event()
    seen: list[bytes] = []

    def worker() -> None:
        with connections.lease():
            leased.set()
            killed.wait(2)
            _report_connect(builder, client_sock)  # the connect completes after the kill
            seen.append(peer.recv(10))

    thread = threading.Thread(target=worker)
    thread.start()
    leased.wait(2)
    builder.fail_next = True  # the rebuild fails: the old client stays in service
    assert not connections.reset("stale").ok
    killed.set()
    thread.join(2)
    assert seen == [b""]  # the late socket was shut down at once
    # a stream leased after the kill is not touched
    other_server, other_client, other_peer = _connected_pair()
    with connections.lease():
        _report_connect(builder, other_client)
        other_client.sendall(b"ok")
        assert other_peer.recv(10) == b"ok"
    for sock in (client_sock, peer, server, other_client, other_peer, other_server):
        sock.close()
