"""A minimal token server for docker-registry's `auth: token` (the Docker token protocol):
GET /token?service=S&scope=repository:NAME:ACTIONS -> {"token": JWT}, the JWT signed RS256
with a throw-away key by `openssl dgst`, its certificate in the header's x5c. Requests with
basic credentials must carry the expected user/password; anonymous ones get pull only when
`anonymous_pull` is set. Run as: python3 tokenserver.py PORT KEY CERT SERVICE USER PASSWORD"""

import base64
import json
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    port, key, cert, service, user, password = sys.argv[1:7]
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            auth = self.headers.get("Authorization", "")
            who = ""
            if auth.startswith("Basic "):
                u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                if (u, p) != (user, password):
                    self.send_response(401)
                    self.end_headers()
                    return
                who = u
            access = []
            for s in q.get("scope", []):
                typ, name, actions = s.split(":")
                acts = actions.split(",") if who else []
                access.append({"type": typ, "name": name, "actions": acts})
            now = int(time.time())
            hdr = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
            claims = {"iss": "crunner-test", "sub": who, "aud": service, "exp": now + 600, "nbf": now - 10,
                      "iat": now, "jti": str(now), "access": access}
            signing = (b64u(json.dumps(hdr).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing, capture_output=True,
                                 check=True).stdout
            body = json.dumps({"token": signing.decode() + "." + b64u(sig)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    HTTPServer(("127.0.0.1", int(port)), H).serve_forever()


if __name__ == "__main__":
    main()
