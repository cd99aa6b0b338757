"""A CRI client of our own: the kubelet's side of the Container Runtime Interface.

gRPC over containerd's unix socket with messages compiled at run time from cri.proto (our
subset of k8s.io/cri-api runtime.v1) by protoc; calls go through grpc's generic
unary_unary with the request/response types read from the service descriptors, so
`cri.RunPodSandbox(config={...}, runtime_handler="x")` builds the request from a dict with
the proto's field names (`_deadline=` is the call's gRPC deadline in seconds). Streaming
exec/attach speak the kubelet streaming server's websocket protocol v4.channel.k8s.io (one
channel byte before each binary message: 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize).

Needs Debian's python3-grpcio, python3-protobuf, python3-websocket and protobuf-compiler.
"""

import importlib
import json
import os
import subprocess
import sys
import time

import grpc
import websocket
from google.protobuf import json_format

HERE = os.path.dirname(os.path.abspath(__file__))


def compile_proto(outdir):
    """protoc cri.proto -> outdir/cri_pb2.py, imported and returned."""
    os.makedirs(outdir, exist_ok=True)
    subprocess.run(["protoc", "--proto_path", HERE, "--python_out", outdir, "cri.proto"], check=True)
    sys.path.insert(0, outdir)
    try:
        return importlib.import_module("cri_pb2")
    finally:
        sys.path.remove(outdir)


class CRIError(Exception):
    """A failed CRI call: .code is the grpc.StatusCode, .details the server's message."""

    def __init__(self, method, code, details):
        super().__init__("%s: %s: %s" % (method, code.name, details))
        self.method, self.code, self.details = method, code, details


class Client:
    def __init__(self, socket_path, pb):
        self.pb = pb
        self.channel = grpc.insecure_channel("unix://" + socket_path)
        self._methods = {}
        for svc in pb.DESCRIPTOR.services_by_name.values():
            for m in svc.methods:
                req = getattr(pb, m.input_type.name)
                resp = getattr(pb, m.output_type.name)
                call = self.channel.unary_unary("/%s/%s" % (svc.full_name, m.name),
                                                request_serializer=req.SerializeToString,
                                                response_deserializer=resp.FromString)
                self._methods[m.name] = (req, call)

    def __getattr__(self, name):
        if name not in self._methods:
            raise AttributeError(name)
        req_type, call = self._methods[name]

        def invoke(_deadline=120, **fields):
            req = json_format.ParseDict(fields, req_type(), ignore_unknown_fields=False)
            try:
                return call(req, timeout=_deadline)
            except grpc.RpcError as e:
                raise CRIError(name, e.code(), e.details()) from None
        return invoke

    def wait_ready(self, proc, timeout=60):
        """Waits until Status reports RuntimeReady and NetworkReady (the CNI config loaded)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError("containerd exited with %d" % proc.returncode)
            try:
                st = self.Status(_deadline=5)
                conds = {c.type: c for c in st.status.conditions}
                last = conds
                if all(k in conds and conds[k].status for k in ("RuntimeReady", "NetworkReady")):
                    return
            except CRIError as e:
                last = e
            time.sleep(0.1)
        raise AssertionError("CRI not ready: %s" % last)

    def close(self):
        self.channel.close()


class Stream:
    """One exec/attach session on the streaming server (websocket, v4.channel.k8s.io)."""

    STDIN, STDOUT, STDERR, ERROR, RESIZE = range(5)

    def __init__(self, url, timeout=30):
        self.ws = websocket.create_connection(url.replace("http://", "ws://", 1),
                                              subprotocols=["v4.channel.k8s.io"], timeout=timeout)
        self.out = {self.STDOUT: b"", self.STDERR: b""}
        self.status = None

    def send(self, data):
        self.ws.send_binary(bytes([self.STDIN]) + data)

    def resize(self, width, height):
        self.ws.send_binary(bytes([self.RESIZE]) + json.dumps({"Width": width, "Height": height}).encode())

    def _recv(self):
        """One message into .out / .status; False once the server closed the connection."""
        try:
            op, data = self.ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            return False
        if op == websocket.ABNF.OPCODE_CLOSE:
            return False
        if data:
            ch, payload = data[0], data[1:]
            if ch == self.ERROR:
                self.status = json.loads(payload) if payload else self.status
            elif ch in self.out:
                self.out[ch] += payload
        return True

    def read_until(self, channel, text, limit=30):
        """Reads until `text` shows on `channel`; AssertionError after `limit` s or at the end."""
        deadline = time.monotonic() + limit
        while text not in self.out[channel]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r on channel %d within %g s; got %r" % (text, channel, limit, self.out))
            self.ws.settimeout(left)
            try:
                if not self._recv():
                    raise AssertionError("stream ended before %r on channel %d; got %r" % (text, channel, self.out))
            except websocket.WebSocketTimeoutException:
                pass

    def wait(self, limit=60):
        """Reads to the end; returns the exit code the v4 status reports."""
        self.ws.settimeout(limit)
        while self._recv():
            pass
        self.ws.close()
        return exit_code_of(self.status)

    def close(self):
        self.ws.close()


def exit_code_of(status):
    """v4.channel.k8s.io status: {"status":"Success"} or Failure with reason NonZeroExitCode
    and details.causes [{"reason":"ExitCode","message":"N"}]."""
    if status is None:
        return None
    if status.get("status") == "Success":
        return 0
    for c in status.get("details", {}).get("causes", []):
        if c.get("reason") == "ExitCode":
            return int(c["message"])
    raise AssertionError("stream status without an exit code: %r" % status)
