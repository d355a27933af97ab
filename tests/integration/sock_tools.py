#!/usr/bin/env python3
"""Small network tools for the socket-forwarding tests (python3 stdlib only).

  sock_tools.py http PORT [--bind ADDR] [--log FILE]
      An HTTP server: every GET is answered "out1 path PATH peer ADDR" and
      logged as one line "peer ADDR path PATH" (the address the request came
      from, as the server's kernel saw it).
  sock_tools.py dns PORT [--bind ADDR] NAME=IPV4...
      A DNS responder over UDP: A queries for NAME get IPV4, other types of
      a known name an empty answer, unknown names NXDOMAIN.  Logs each query.
  sock_tools.py fetch URL
      GET URL with http.client (a new connection), print status and body;
      exit 1 unless the status is 200.
  sock_tools.py udpq SERVER PORT NAME
      An A query for NAME from an unconnected UDP socket (sendto, recvfrom):
      prints "udpq NAME is IPV4 from ADDR:PORT" (the reply's source).
  sock_tools.py load HOST PORT [--count N] [--concurrency C]
                     [--kill-pid PID --kill-at K] [--timeout S]
      N GET requests, C at a time, each on a new connection (timeout S
      seconds, default 5);
      the answers' first line ("host H rank R ...") counted per rank.  With
      --kill-pid, PID gets SIGKILL once K requests have completed.  Prints
      "requests N ok X failed Y", one "served host H rank R: COUNT" line per
      rank, with --kill-pid one "after kill host H rank R: COUNT" line per
      rank (answers to requests started after the kill), and one
      "failure REASON: COUNT" line per kind of failure.
"""
import argparse
import collections
import http.client
import http.server
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse


def cmd_http(a):
    log = open(a.log, "a", buffering=1) if a.log else sys.stdout
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            peer = self.client_address[0]
            with lock:
                log.write("peer %s path %s\n" % (peer, self.path))
            body = ("out1 path %s peer %s\n" % (self.path, peer)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server((a.bind, a.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("http: listening on %s:%d" % (a.bind, a.port), flush=True)
    srv.serve_forever()


def dns_name(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels).lower(), off
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n


def cmd_dns(a):
    records = {}
    for r in a.records:
        name, _, ip = r.partition("=")
        records[name.lower().rstrip(".")] = socket.inet_aton(ip)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.bind, a.port))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("dns: listening on %s:%d for %s" % (a.bind, a.port, ", ".join(sorted(records))), flush=True)
    while True:
        msg, peer = sock.recvfrom(512)
        try:
            qid, flags, qd = struct.unpack("!HHH", msg[:6])
            name, off = dns_name(msg, 12)
            qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
        except (ValueError, IndexError, struct.error):
            continue
        question = msg[12:off + 4]
        rd = flags & 0x0100
        if name in records:
            rcode = 0
            answers = b""
            if qtype == 1:
                answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + records[name]
            nan = 1 if answers else 0
        else:
            rcode, answers, nan = 3, b"", 0
        head = struct.pack("!HHHHHH", qid, 0x8400 | rd | 0x0080 | rcode, 1, nan, 0, 0)
        sock.sendto(head + question + answers, peer)
        print("dns: query %s type %d from %s: %s" % (name, qtype, peer[0], "answered" if rcode == 0 else "NXDOMAIN"),
              flush=True)


def cmd_fetch(a):
    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
    conn.request("GET", u.path or "/")
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    print("status %d %s" % (resp.status, body.strip()))
    return 0 if resp.status == 200 else 1


def cmd_udpq(a):
    """One A query for NAME over an unconnected UDP socket (sendto,
    recvfrom): prints the answer and the reply's source."""
    qid = os.getpid() & 0xFFFF
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in a.name.split(".")) + b"\0"
    q += struct.pack("!HH", 1, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(10)
    sock.sendto(q, (a.server, a.port))
    msg, peer = sock.recvfrom(512)
    rid, _, _, nan = struct.unpack("!HHHH", msg[:8])
    if rid != qid or nan != 1:
        print("udpq: bad reply id %d answers %d" % (rid, nan))
        return 1
    print("udpq %s is %s from %s:%d" % (a.name, socket.inet_ntoa(msg[-4:]), peer[0], peer[1]))
    return 0


def cmd_load(a):
    lock = threading.Lock()
    served = collections.Counter()
    failures = collections.Counter()
    after_kill = collections.Counter()
    state = {"next": 0, "done": 0, "killed": False, "kill_time": float("inf")}

    def one():
        conn = http.client.HTTPConnection(a.host, a.port, timeout=a.timeout)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            if resp.status != 200 or not body.startswith("host "):
                return None, "status %d" % resp.status
            w = body.split()
            return "host %s rank %s" % (w[1], w[3]), None
        except (OSError, http.client.HTTPException) as e:
            return None, type(e).__name__
        finally:
            conn.close()

    def worker():
        while True:
            with lock:
                if state["next"] >= a.count:
                    return
                state["next"] += 1
            started = time.monotonic()
            who, why = one()
            with lock:
                state["done"] += 1
                if who:
                    served[who] += 1
                    if started > state["kill_time"]:
                        after_kill[who] += 1
                else:
                    failures[why] += 1
                kill = a.kill_pid and not state["killed"] and state["done"] >= a.kill_at
                if kill:
                    state["killed"] = True
            if kill:
                os.kill(a.kill_pid, signal.SIGKILL)
                state["kill_time"] = time.monotonic()
                print("killed pid %d after %d requests" % (a.kill_pid, a.kill_at), flush=True)

    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = sum(served.values())
    print("requests %d ok %d failed %d" % (a.count, ok, a.count - ok))
    for who, n in sorted(served.items()):
        print("served %s: %d" % (who, n))
    if a.kill_pid:
        for who in sorted(served):
            print("after kill %s: %d" % (who, after_kill[who]))
    for why, n in sorted(failures.items()):
        print("failure %s: %d" % (why, n))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("http")
    h.add_argument("port", type=int)
    h.add_argument("--bind", default="0.0.0.0")
    h.add_argument("--log")
    d = sub.add_parser("dns")
    d.add_argument("port", type=int)
    d.add_argument("--bind", default="0.0.0.0")
    d.add_argument("records", nargs="+", metavar="NAME=IPV4")
    f = sub.add_parser("fetch")
    f.add_argument("url")
    u = sub.add_parser("udpq")
    u.add_argument("server")
    u.add_argument("port", type=int)
    u.add_argument("name")
    lo = sub.add_parser("load")
    lo.add_argument("host")
    lo.add_argument("port", type=int)
    lo.add_argument("--count", type=int, default=1000)
    lo.add_argument("--concurrency", type=int, default=4)
    lo.add_argument("--kill-pid", type=int, default=0)
    lo.add_argument("--kill-at", type=int, default=0)
    lo.add_argument("--timeout", type=float, default=5)
    a = p.parse_args()
    return {"http": cmd_http, "dns": cmd_dns, "fetch": cmd_fetch, "udpq": cmd_udpq,
            "load": cmd_load}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
