"""moto's server with one request at a time.

moto's server handles each request on its own thread and its DynamoDB model
takes no lock, so two concurrent conditional writes can both succeed. Real
DynamoDB applies each conditional write atomically, and the notifier's
at-most-once guarantee rests on that; serialising requests gives moto the
same semantics, so the concurrency tests test the notifier, not moto.

Usage: python scripts/moto_server_serial.py PORT [--exit-with PID]
  --exit-with PID: exit when process PID ends (a test binary that started
  this server), so no server outlives its tests.
"""

import os
import sys
import threading
import time

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serial(environ, start_response):
    with lock:
        # The response is produced inside the lock: the write is done when it is.
        return list(app(environ, start_response))


def exit_with(pid):
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.5)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--exit-with":
        threading.Thread(target=exit_with, args=(int(sys.argv[3]),), daemon=True).start()
    run_simple("127.0.0.1", int(sys.argv[1]), serial, threaded=True)
