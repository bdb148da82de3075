#!/usr/bin/env python3
# A collector that accepts every OTLP/HTTP export and throws it away, so
# that bench/load.sh can measure what exporting costs the gateway:
#   bench/otlp-sink.py 4318 &
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 bench/load.sh 10
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = 0

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        Sink.received += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def report(*_):
    # What was received, so a measurement with export on can show it exported.
    print(f"otlp exports received: {Sink.received}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
signal.signal(signal.SIGINT, report)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 4318), Sink).serve_forever()
