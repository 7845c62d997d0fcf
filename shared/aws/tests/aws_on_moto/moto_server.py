"""moto server with one request at a time: `python3 moto_server.py HOST PORT`.

DynamoDB checks a condition and writes in one atomic step. moto's server does not: it runs
requests on threads, and two conditional writes of one item can both pass their condition,
the late one overwriting what came after it. The tests' concurrency is the client side's
(many senders, two processes, racing claims), so the server takes requests one at a time,
which makes each conditional write atomic as DynamoDB's is. Connections stay concurrent and
keep-alive: only the handling of a request holds the lock.
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

app = DomainDispatcherApplication(create_backend_app)
one_at_a_time = threading.Lock()


def serialised(environ, start_response):
    with one_at_a_time:
        # The whole body is made under the lock: a lazy body would run the request after it.
        return [b"".join(app(environ, start_response))]


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, serialised, threaded=True)
