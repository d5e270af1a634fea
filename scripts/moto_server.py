#!/usr/bin/env python3
"""moto's DynamoDB stand-in, serving one request at a time: python3 scripts/moto_server.py HOST PORT

`python3 -m moto.server` handles requests on threads without locking its tables around a
request, so two concurrent TransactWriteItems can both pass their conditions (a cross-process
test of ours saw 6 of 1,000 joins admitted to a 4-seat room). DynamoDB itself executes each
request atomically; serving requests one by one gives moto that property, which our
concurrency tests rely on."""
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

host, port = sys.argv[1], int(sys.argv[2])
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False, use_reloader=False)
