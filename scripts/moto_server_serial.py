"""moto's server with one request at a time.

moto's server handles each request on its own thread and its DynamoDB model
takes no lock, so two concurrent conditional writes can both succeed. Real
DynamoDB applies each conditional write atomically, and the notifier's
at-most-once guarantee rests on that; serialising requests gives moto the
same semantics, so the concurrency tests test the notifier, not moto.

Usage: python scripts/moto_server_serial.py PORT
"""

import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serial(environ, start_response):
    with lock:
        # The response is produced inside the lock: the write is done when it is.
        return list(app(environ, start_response))


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), serial, threaded=True)
