"""The exec stream's first bytes, when they arrive in one read with the engine's reply.

docker-py reads an upgraded reply's headers through a buffered reader and hands back the
socket under it; output that came in the same read stays in that reader (docker-py issue
#3332). On a real engine this happens about 1 start in 130 under load, so it is shown here
with a scripted engine on a unix socket that always answers in one write: docker-py's own
client and http code read it, only the engine is a script.
"""
from __future__ import annotations

import json
import socket
import struct
import threading

import docker
import pytest

from swarmlab.transport.docker_exec import exec_run, exec_stream, open_stream


def frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(data)) + data


class OneWriteEngine:
    """Answers exec create, start and inspect; `start` sends headers and all frames at once."""

    def __init__(self, path, frames: bytes, keep_open: bool = False):
        self.frames, self.keep_open = frames, keep_open
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            while True:
                request = self._request(conn)
                if request is None:
                    return
                line = request.split(b"\r\n", 1)[0].decode()
                if "/start" in line:
                    conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                                 b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + self.frames)
                    if self.keep_open:
                        conn.recv(1)  # until the client closes its end
                    return
                body = {"Id": "e1"} if line.endswith("/exec HTTP/1.1") else {"Running": False, "ExitCode": 0}
                data = json.dumps(body).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(data)).encode() + b"\r\n\r\n" + data)

    @staticmethod
    def _request(conn) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0)
        while len(body) < length:
            body += conn.recv(65536)
        return head


@pytest.fixture
def engine_at(tmp_path):
    def start(frames: bytes, keep_open: bool = False) -> docker.APIClient:
        path = tmp_path / "engine.sock"
        OneWriteEngine(path, frames, keep_open)
        return docker.APIClient(base_url=f"unix://{path}", version="1.41")
    return start


def test_output_that_came_with_the_reply_is_not_lost(engine_at):
    api = engine_at(frame(1, b"-P PREROUTING ACCEPT\n") + frame(2, b"warning\n"))
    result = exec_run(api, "node1", "iptables -t raw -S PREROUTING", node_name="node1")
    assert (result.stdout, result.stderr, result.exit_code) == ("-P PREROUTING ACCEPT\n", "warning\n", 0)


def test_a_streams_first_bytes_that_came_with_the_reply_reach_the_client(engine_at):
    # sshd speaks first: its banner can arrive in the same read as the reply to the tunnel's start
    api = engine_at(frame(1, b"SSH-2.0-OpenSSH_9.2\r\n"), keep_open=True)
    stream = open_stream(api, "node1", ["nc", "172.16.155.131", "22"], timeout=5)
    try:
        assert stream.recv(100) == b"SSH-2.0-OpenSSH_9.2\r\n"
    finally:
        stream.close()


def test_exec_stream_hands_each_frame_on_and_keeps_none(engine_at):
    # `swarmlab run` on a docker-driver node: the output goes to the sink in the engine's
    # order, frame by frame, and the Result holds only how the command ended
    api = engine_at(frame(1, b"a\n") + frame(2, b"oops\n") + frame(1, b"b\n"))
    got = []
    result = exec_stream(api, "node1", "sh -c 'echo a; echo oops >&2; echo b'", lambda kind, data: got.append((kind, data)),
                         node_name="node1")
    assert got == [(1, b"a\n"), (2, b"oops\n"), (1, b"b\n")]
    assert (result.stdout, result.stderr, result.exit_code) == ("", "", 0)
