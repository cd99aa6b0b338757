"""A small Garden API client over raw sockets (Python standard library only), speaking the
wire protocol the way Cloud Foundry's Go client does: JSON requests with Content-Length,
"Connection: close", chunked stream-in bodies, and hijacked connections for processes."""

import json
import socket
import urllib.parse


class GardenError(Exception):
    def __init__(self, status, body):
        self.status = status
        self.body = body
        self.type = body.get("Type") if isinstance(body, dict) else None
        self.message = body.get("Message") if isinstance(body, dict) else str(body)
        super().__init__("%s %s: %s" % (status, self.type, self.message))


def _read_head(sock):
    """Reads a response head; returns (status, headers dict lowercased, leftover bytes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def iter_chunks(sock, buf):
    """Yields the data of each chunk of a chunked body (buf: what was read past the head);
    raises ConnectionError when the connection ends before the last chunk (a truncated
    body). Linear in the body however small the chunks: a read position moves through one
    buffer, which is compacted only once a MiB of it is consumed."""
    buf, pos = bytearray(buf), 0

    def need(n):  # at least n unread bytes
        nonlocal buf, pos
        while len(buf) - pos < n:
            if pos >= (1 << 20):
                del buf[:pos]
                pos = 0
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("chunked body truncated")
            buf += chunk

    while True:
        while (nl := buf.find(b"\r\n", pos)) < 0:
            need(len(buf) - pos + 1)
        size = int(bytes(buf[pos:nl]).split(b";")[0], 16)
        pos = nl + 2
        need(size + 2)
        if size == 0:
            return
        yield bytes(buf[pos:pos + size])
        pos += size + 2


def _read_chunked(sock, buf):
    """De-chunks a whole chunked body (see iter_chunks)."""
    return b"".join(iter_chunks(sock, buf))


class Process:
    """A run or attach: the hijacked connection plus optional stdout/stderr streams."""

    def __init__(self, client, handle, sock, rest):
        self.client = client
        self.handle = handle
        self.sock = sock
        self.buf = rest
        first = self._next_payload()
        self.id = first["process_id"]
        self.stream_id = first["stream_id"]
        self.streams = {}

    def _next_payload(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("process connection closed: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def open_stream(self, which):
        s, status, headers, rest = self.client._hijack(
            "GET", "/containers/%s/processes/%s/attaches/%s/%s"
            % (self.handle, self.id, self.stream_id, which))
        if status != 200:
            raise GardenError(status, json.loads(rest or b"{}"))
        self.streams[which] = [s, rest, headers]
        return headers

    def read_until(self, which, needle):
        """Reads a stream until its data so far contains needle (or EOF); returns the data."""
        entry = self.streams[which]
        while needle not in entry[1]:
            chunk = entry[0].recv(65536)
            if not chunk:
                break
            entry[1] += chunk
        return entry[1]

    def read_at_least(self, which, n):
        """Reads a stream until it has delivered at least n bytes (or EOF)."""
        entry = self.streams[which]
        while len(entry[1]) < n:
            chunk = entry[0].recv(1 << 20)
            if not chunk:
                break
            entry[1] += chunk
        return entry[1]

    def read_stream(self, which):
        """Reads a stream until EOF."""
        s, data, _ = self.streams[which]
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return data

    def _send(self, msg):
        msg["process_id"] = self.id
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def write_stdin(self, data):
        self._send({"source": 0, "data": data})

    def close_stdin(self):
        self._send({"source": 0})

    def signal(self, kill=False):
        self._send({"signal": 1 if kill else 0})

    def resize(self, columns, rows):
        self._send({"tty": {"window_size": {"columns": columns, "rows": rows}}})

    def wait(self):
        """Returns the exit status (raises on an error payload)."""
        while True:
            p = self._next_payload()
            if "exit_status" in p:
                self.sock.close()
                return p["exit_status"]
            if "error" in p:
                self.sock.close()
                raise RuntimeError(p["error"])

    def close(self):
        self.sock.close()
        for s in self.streams.values():
            s[0].close()


class Client:
    def __init__(self, host="127.0.0.1", port=7777, socket_path=None):
        self.host, self.port, self.socket_path = host, port, socket_path

    def _connect(self):
        if self.socket_path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.socket_path)
            return s
        return socket.create_connection((self.host, self.port))

    def raw(self, method, path, body=b"", query=None, chunked=False, headers=None):
        """One request on a fresh connection; returns (status, headers, body bytes)."""
        if query:
            path += "?" + urllib.parse.urlencode(query)
        s = self._connect()
        try:
            head = "%s %s HTTP/1.1\r\nHost: api\r\nConnection: close\r\n" % (method, path)
            head += "Content-Type: application/json\r\n"
            for k, v in (headers or {}).items():
                head += "%s: %s\r\n" % (k, v)
            if chunked:
                head += "Transfer-Encoding: chunked\r\n\r\n"
                out = head.encode()
                for i in range(0, len(body), 8192):
                    part = body[i:i + 8192]
                    out += b"%x\r\n" % len(part) + part + b"\r\n"
                out += b"0\r\n\r\n"
            else:
                head += "Content-Length: %d\r\n\r\n" % len(body)
                out = head.encode() + body
            s.sendall(out)
            status, hdrs, rest = _read_head(s)
            if "content-length" in hdrs:
                n = int(hdrs["content-length"])
                while len(rest) < n:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
            elif hdrs.get("transfer-encoding", "").lower() == "chunked":
                rest = _read_chunked(s, rest)
            else:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
            return status, hdrs, rest
        finally:
            s.close()

    def call(self, method, path, body=None, query=None, raw_body=None):
        data = raw_body if raw_body is not None else (
            b"" if body is None else json.dumps(body).encode())
        status, _, out = self.raw(method, path, data, query)
        obj = json.loads(out) if out.strip() else None
        if status >= 300:
            raise GardenError(status, obj)
        return obj

    def _hijack(self, method, path, body=b""):
        s = self._connect()
        head = ("%s %s HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (method, path, len(body)))
        s.sendall(head.encode() + body)
        status, headers, rest = _read_head(s)
        if status >= 300:
            n = int(headers.get("content-length", "0"))
            while len(rest) < n:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
            s.close()
        return s, status, headers, rest

    # --- API ---
    def ping(self):
        return self.call("GET", "/ping")

    def capacity(self):
        return self.call("GET", "/capacity")

    def create(self, spec):
        return self.call("POST", "/containers", spec)["Handle"]

    def list(self, props=None):
        return self.call("GET", "/containers", query=props)["Handles"]

    def info(self, handle):
        return self.call("GET", "/containers/%s/info" % handle)

    def bulk_info(self, handles):
        return self.call("GET", "/containers/bulk_info", query={"handles": ",".join(handles)})

    def destroy(self, handle):
        return self.call("DELETE", "/containers/%s" % handle)

    def stop(self, handle, kill=False):
        return self.call("PUT", "/containers/%s/stop" % handle, {"kill": kill})

    def properties(self, handle):
        return self.call("GET", "/containers/%s/properties" % handle)

    def get_property(self, handle, key):
        return self.call("GET", "/containers/%s/properties/%s" % (handle, key))["value"]

    def set_property(self, handle, key, value):
        return self.call("PUT", "/containers/%s/properties/%s" % (handle, key), {"value": value})

    def remove_property(self, handle, key):
        return self.call("DELETE", "/containers/%s/properties/%s" % (handle, key))

    def limits(self, handle, which):
        return self.call("GET", "/containers/%s/limits/%s" % (handle, which))

    def metrics(self, handle):
        return self.call("GET", "/containers/%s/metrics" % handle)

    def bulk_metrics(self, handles):
        return self.call("GET", "/containers/bulk_metrics", query={"handles": ",".join(handles)})

    def set_grace_time(self, handle, ns):
        return self.call("PUT", "/containers/%s/grace_time" % handle, raw_body=str(ns).encode())

    def stream_in(self, handle, destination, tar_bytes, user=""):
        status, _, out = self.raw("PUT", "/containers/%s/files" % handle, tar_bytes,
                                  query={"destination": destination, "user": user}, chunked=True)
        if status >= 300:
            raise GardenError(status, json.loads(out))

    def stream_out(self, handle, source, user=""):
        status, _, out = self.raw("GET", "/containers/%s/files" % handle,
                                  query={"source": source, "user": user})
        if status >= 300:
            raise GardenError(status, json.loads(out))
        return out

    def run(self, handle, spec, stdout=True, stderr=True):
        s, status, headers, rest = self._hijack(
            "POST", "/containers/%s/processes" % handle, json.dumps(spec).encode())
        if status != 201:
            raise GardenError(status, json.loads(rest or b"{}"))
        p = Process(self, handle, s, rest)
        p.head = headers
        if stdout:
            p.open_stream("stdout")
        if stderr:
            p.open_stream("stderr")
        return p

    def attach(self, handle, pid, stdout=True, stderr=True):
        s, status, headers, rest = self._hijack(
            "GET", "/containers/%s/processes/%s" % (handle, pid))
        if status != 200:
            raise GardenError(status, json.loads(rest or b"{}"))
        p = Process(self, handle, s, rest)
        p.head = headers
        if stdout:
            p.open_stream("stdout")
        if stderr:
            p.open_stream("stderr")
        return p
