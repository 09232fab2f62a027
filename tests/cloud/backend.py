#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A umc cloud backend for tests (docs/cloud-api.md), Python standard library only.

Serves, in plain HTTP on 127.0.0.1 (nginx in front does TLS and client
certificates and proxies /api/ and /img/ here):

  GET  /api/authent?id=&version=      one-time ticket
  GET  /api/check?id=&token=&company=&product=&versions=
  POST /api/report?id=&token=         JSON report, appended to REPORTS
  GET  /img/<package>/<file>          image bytes with range requests (RFC 9110 14)
  GET  /_control?mode=M               misbehave on command (not proxied by nginx)

Modes: normal, noupdate, drop (the first full image request is cut after
half its bytes), stall (the first image request stops sending after half),
wronghash, oversized, untrusted (offers packages prepared that way),
replay (authent hands out a ticket already used), expired (tickets expire
at once), denied, reportdown (report answers 503), slow (images from
nginx's rate-limited location), ftps, ftpplain, http, wrongtoken (the
backend holds another secret for the device: every token is refused).

/_control also takes pkg=NAME (the package folder offered, default
"good") and images=NAME (serve the images of another folder with that
package's manifest: a mix-and-match of two signed packages), both kept
until the next /_control.

Every request is logged to stderr in one line; image ranges as "RANGE bytes=N-".
Usage: backend.py CONFIG.json  (port, secret_hex, device_id, https_base,
ftp_base, ftp_plain_base, http_base, pkg_root, reports)
"""
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

CFG = json.load(open(sys.argv[1]))
SECRET = bytes.fromhex(CFG["secret_hex"])
LOCK = threading.Lock()
STATE = {"mode": "normal", "tickets": {}, "used": set(), "last_ticket": None, "cut": False,
         "pkg": "good", "images": None}
OTHER_SECRET = hashlib.sha256(b"not the device's secret").digest()


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def package_version(name):
    try:
        with open(os.path.join(CFG["pkg_root"], name, "manifest.json")) as f:
            return json.load(f)["package_version"]
    except (OSError, ValueError, KeyError):
        return "1.0.0"


def offer(mode):
    https = CFG["https_base"]
    pkg = STATE["pkg"]
    name = {"wronghash": pkg, "oversized": pkg, "untrusted": "untrusted"}.get(mode, pkg)
    img = STATE["images"] or name
    images = {
        "wronghash": f"{https}/pkg/bad",
        "oversized": f"{https}/pkg/over",
        "drop": f"{https}/img/{img}",
        "stall": f"{https}/img/{img}",
        "slow": f"{https}/slow/{img}",
        "ftps": f"{CFG.get('ftp_base')}/{img}",
        "ftpplain": f"{CFG.get('ftp_plain_base')}/{img}",
        "http": f"{CFG['http_base']}/img/{img}",
    }.get(mode, f"{https}/pkg/{img}")
    return {
        "update": True,
        "package_version": package_version(name),
        "date": "2026-12-01T00:00:00Z",
        "manifest_url": f"{https}/pkg/{name}/manifest.json",
        "signature_url": f"{https}/pkg/{name}/manifest.json.p7s",
        "signature_format": "cms",
        "images_url": images,
        "message": "test offer",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log("%s %s" % (self.command, self.path))

    def answer(self, status, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        log(f"ERROR {status} {code}: {message}")
        self.answer(status, {"error": code, "message": message})

    def query(self):
        q = parse_qs(urlparse(self.path).query, keep_blank_values=True)
        return {k: v[0] for k, v in q.items()}

    def token_ok(self, q):
        """True, or an error answered: unknown/used/expired ticket, wrong token."""
        if q.get("id") != CFG["device_id"]:
            self.error(403, "unknown_device", "no such device")
            return False
        token = q.get("token", "")
        secret = OTHER_SECRET if STATE["mode"] == "wrongtoken" else SECRET
        with LOCK:
            for ticket, exp in list(STATE["tickets"].items()):
                data = (q["id"] + ":" + ticket).encode()
                want = hmac.new(secret, data, hashlib.sha256).hexdigest()
                if hmac.compare_digest(want, token):
                    break
            else:
                for ticket in STATE["used"]:
                    data = (q["id"] + ":" + ticket).encode()
                    if hmac.compare_digest(hmac.new(secret, data, hashlib.sha256).hexdigest(), token):
                        self.error(401, "ticket_used", "this ticket was already used")
                        return False
                self.error(401, "bad_token", "token does not match any ticket issued")
                return False
            del STATE["tickets"][ticket]
            STATE["used"].add(ticket)
        if exp < time.time():
            self.error(401, "ticket_expired", "ticket expired")
            return False
        return True

    def authent(self, q):
        mode = STATE["mode"]
        if q.get("version") != "1":
            return self.error(400, "bad_version", "protocol version 1 only")
        if q.get("id") != CFG["device_id"]:
            return self.error(403, "unknown_device", "no such device")
        if mode == "denied":
            return self.answer(200, {"state": "denied", "message": "device blocked by the fleet operator"})
        with LOCK:
            if mode == "replay" and STATE["last_ticket"]:
                ticket = STATE["last_ticket"]
            else:
                ticket = secrets.token_urlsafe(24)
                exp = time.time() - 1 if mode == "expired" else time.time() + 60
                STATE["tickets"][ticket] = exp
                STATE["last_ticket"] = ticket
        self.answer(200, {"state": "ok", "message": "", "ticket": ticket, "expires_in": 60})

    def check(self, q):
        if not self.token_ok(q):
            return
        log(f"CHECK company={q.get('company')} product={q.get('product')} versions={q.get('versions')}")
        if STATE["mode"] == "noupdate":
            return self.answer(200, {"update": False, "poll_after": 3600})
        self.answer(200, offer(STATE["mode"]))

    def report(self, q):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if STATE["mode"] == "reportdown":
            return self.error(503, "unavailable", "reports are not accepted now")
        if not self.token_ok(q):
            return
        try:
            json.loads(body)
        except ValueError:
            return self.error(400, "bad_report", "report is not JSON")
        with open(CFG["reports"], "ab") as f:
            f.write(body + b"\n")
        log("REPORT " + body.decode())
        self.answer(200, {"accepted": True})

    def image(self, path):
        parts = path.split("/")
        if len(parts) != 4 or ".." in parts:
            return self.error(404, "not_found", "no such image")
        fn = os.path.join(CFG["pkg_root"], parts[2], parts[3])
        try:
            data = open(fn, "rb").read()
        except OSError:
            return self.error(404, "not_found", "no such image")
        start = 0
        rng = self.headers.get("Range")
        if rng:
            log("RANGE " + rng)
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        mode = STATE["mode"]
        with LOCK:
            cut = mode in ("drop", "stall") and not rng and not STATE["cut"]
            STATE["cut"] = STATE["cut"] or cut
        if not cut:
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if mode == "stall":
            log("STALL after %d bytes" % (len(body) // 2))
            time.sleep(30)
        log("DROP after %d bytes" % (len(body) // 2))
        self.close_connection = True
        self.connection.shutdown(2)

    def do_GET(self):
        path = urlparse(self.path).path
        q = self.query()
        if path == "/_control":
            with LOCK:
                STATE["mode"] = q.get("mode", "normal")
                STATE["pkg"] = q.get("pkg", "good")
                STATE["images"] = q.get("images")
                STATE["cut"] = False
            log("MODE %s pkg=%s images=%s" % (STATE["mode"], STATE["pkg"], STATE["images"]))
            return self.answer(200, {"mode": STATE["mode"]})
        if path == "/api/authent":
            return self.authent(q)
        if path == "/api/check":
            return self.check(q)
        if path.startswith("/img/"):
            return self.image(path)
        self.error(404, "not_found", "no such endpoint")

    def do_POST(self):
        path = urlparse(self.path).path
        if path == "/api/report":
            return self.report(self.query())
        self.error(404, "not_found", "no such endpoint")


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", CFG["port"]), Handler)
    srv.daemon_threads = True
    log("LISTENING %d" % CFG["port"])
    srv.serve_forever()


if __name__ == "__main__":
    main()
