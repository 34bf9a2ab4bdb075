#!/usr/bin/env python3
"""The Python model container: serves one model version over containers/PROTOCOL.md.

  python3 containers/python/clipper_container/runner.py --model FILE --name m --version 1 \
      --input-type doubles [--function predict] [--host 127.0.0.1] [--port 0] \
      [--framework python|sklearn|pytorch|xgboost] [--device cpu|cuda|auto] [--threads N]

--framework picks how the model file is loaded (frameworks.py; default python); --device (pytorch)
and --threads (pytorch, xgboost: intra-op threads of this replica, default 1) are its options.

Loads the model, listens (the batching worker dials in), prints one line
`{"clipper_ready":true,"port":N,"pid":P}` on stdout and serves any number of connections, one
thread each. predict calls are serialized by one lock (models need not be thread-safe); each
connection's heartbeats come from their own thread, so they keep flowing while predict runs.
Exits on SIGTERM/SIGINT and when stdin (a pipe held by the manager) reaches end-of-file.
"""

import argparse
import json
import os
import platform
import select
import signal
import socket
import stat
import sys
import threading
import traceback

if __package__ in (None, ''):
    # Run as a script: import the package from its parent directory, and keep this directory off
    # sys.path so that our module names (protocol, runner) cannot shadow a model's imports.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != _here]
    sys.path.insert(0, os.path.dirname(_here))

from clipper_container.protocol import (  # noqa: E402
    NONCE_BYTES_MIN, PROTOCOL_VERSION, REPLICA_SECRET_ENV, FrameDecoder, ProtocolError, encode_frame,
    parse_secret_hex, replica_auth_mac)
from clipper_container.frameworks import (  # noqa: E402
    DEVICES, framework_problem, load_framework_predict, threads_problem)
from clipper_container.model_loader import ModelLoadError, decode_inputs, encode_outputs  # noqa: E402

RECV_BYTES = 1 << 20
#: After a fatal error the connection is drained this long for the peer's close.
CLOSE_DRAIN_S = 2.0


def parse_options(argv):
    parser = argparse.ArgumentParser(prog='clipper_container.runner', allow_abbrev=False)
    parser.add_argument('--model', required=True)
    parser.add_argument('--function', default='predict')
    # Defaults from the environment: a Docker image takes them from the manager.
    parser.add_argument('--name', default=os.environ.get('CLIPPER_MODEL_NAME') or None)
    parser.add_argument('--version', default=os.environ.get('CLIPPER_MODEL_VERSION') or None)
    parser.add_argument('--input-type', default=os.environ.get('CLIPPER_INPUT_TYPE') or None)
    parser.add_argument('--alive-file', default=None,
                        help="touched every second while the runner's main loop runs (the image's health check)")
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--watch-stdin', choices=('auto', 'yes', 'no'), default='auto',
                        help='exit when stdin reaches EOF; auto: only when stdin is a pipe/socket')
    parser.add_argument('--framework', default='python', help='how the model file is loaded (frameworks.py)')
    parser.add_argument('--device', default=None, help="pytorch: 'cpu', 'cuda' or 'auto' (default)")
    parser.add_argument('--threads', default=None, help='pytorch, xgboost: intra-op threads (1..256, default 1)')
    # The Node runner's option; accepted so that one container spec can name either runtime.
    parser.add_argument('--isolate', help=argparse.SUPPRESS)
    options, extra = parser.parse_known_args(argv)
    for problem in (framework_problem(options.framework), threads_problem(options.threads)):
        if problem is not None:
            parser.error(problem)
    if options.device is not None and options.device not in DEVICES:
        parser.error('--device must be one of %s (got %r)' % (', '.join(DEVICES), options.device))
    for flag, value in (('--name', options.name), ('--version', options.version), ('--input-type', options.input_type)):
        if value is None:
            parser.error('%s is required' % flag)
    if not 0 <= options.port <= 65535:
        parser.error('--port must be 0..65535 (got %d)' % options.port)
    if extra:
        # Runtime options meant for other runners (e.g. --isolate for node) are not an error.
        sys.stderr.write('runner: ignoring options %s\n' % ' '.join(extra))
    # The replica secret: read, then removed from the environment (the model's subprocesses never see it).
    secret_hex = os.environ.pop(REPLICA_SECRET_ENV, '')
    options.secret = parse_secret_hex(secret_hex) if secret_hex else None
    if secret_hex and options.secret is None:
        parser.error('$%s must be at least 32 bytes as hex' % REPLICA_SECRET_ENV)
    return options


class Connection:
    """One frontend connection: a reader thread that runs its batches in order, and (after the
    handshake) a heartbeat thread. Writes from both go through one lock."""

    def __init__(self, sock, server):
        self.sock = sock
        self.server = server
        self.options = server.options
        self.send_lock = threading.Lock()
        self.closed = threading.Event()
        self.greeted = False
        self.finished = False

    def send(self, message):
        frame = encode_frame(message)
        with self.send_lock:
            if self.closed.is_set():
                return False
            try:
                self.sock.sendall(frame)
                return True
            except OSError:
                self.closed.set()
                return False

    def fail(self, message):
        """Fatal error: tell the peer, then close (after letting it read the error)."""
        self.send({'t': 'error', 'message': message})
        self.close(drain=True)

    def close(self, drain=False):
        with self.send_lock:
            self.closed.set()
        if self.finished:
            return
        self.finished = True
        try:
            if drain:
                # Half-close and read until the peer closes too: closing with unread input would
                # reset the connection and could destroy the error frame before the peer reads it.
                self.sock.shutdown(socket.SHUT_WR)
                self.sock.settimeout(CLOSE_DRAIN_S)
                while self.sock.recv(RECV_BYTES):
                    pass
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.server.forget(self)

    def serve(self):
        decoder = FrameDecoder()
        try:
            while not self.closed.is_set():
                try:
                    chunk = self.sock.recv(RECV_BYTES)
                except OSError:
                    break
                if not chunk:
                    break
                try:
                    messages = decoder.feed(chunk)
                except ProtocolError as err:
                    self.fail(str(err))
                    return
                for message in messages:
                    if not self.on_message(message):
                        return
        finally:
            self.close()

    def on_message(self, message):
        """Handle one message; False when the connection is finished."""
        kind = message['t']
        if not self.greeted:
            problem = self.check_hello(message)
            if problem is not None:
                self.fail(problem)
                return False
            self.greeted = True
            heartbeat_ms = message.get('heartbeat_ms')
            if not isinstance(heartbeat_ms, (int, float)) or isinstance(heartbeat_ms, bool) or heartbeat_ms <= 0:
                heartbeat_ms = 1000
            ready = {'t': 'ready', 'protocol': PROTOCOL_VERSION, 'model': self.options.name,
                     'version': self.options.version, 'input_type': self.options.input_type,
                     'pid': os.getpid(), 'runtime': 'python %s' % platform.python_version()}
            auth = self.auth_for(message)
            if auth is not None:
                ready['auth'] = auth
            self.send(ready)
            threading.Thread(target=self.heartbeat, args=(max(10, heartbeat_ms) / 1000.0,),
                             name='clipper-hb', daemon=True).start()
            return True
        if kind == 'predict':
            self.on_predict(message)
            return not self.closed.is_set()
        if kind == 'hb':
            return True
        if kind == 'bye':
            self.close()
            return False
        self.fail('unexpected message %s' % kind)
        return False

    def auth_for(self, hello):
        """HMAC over the hello's nonce and names (containers/PROTOCOL.md, Authentication); None
        without a secret or a usable nonce."""
        nonce, replica = hello.get('nonce'), hello.get('replica')
        if self.options.secret is None or not isinstance(nonce, bytes) or len(nonce) < NONCE_BYTES_MIN:
            return None
        if not isinstance(replica, int) or isinstance(replica, bool):
            return None
        # Sign only for our own replica id ($CLIPPER_REPLICA_ID, set by the managers): a process on
        # another replica's old port cannot relay the handshake to us and pass as that replica.
        own = os.environ.get('CLIPPER_REPLICA_ID', '')
        if own.isdigit() and replica != int(own):
            return None
        return replica_auth_mac(self.options.secret, nonce, self.options.name, self.options.version, replica)

    def check_hello(self, message):
        o = self.options
        if message['t'] != 'hello':
            return 'expected hello, got %s' % message['t']
        if message.get('protocol') != PROTOCOL_VERSION:
            return 'protocol %s not supported (this runner speaks %d)' % (message.get('protocol'), PROTOCOL_VERSION)
        if message.get('model') != o.name or message.get('version') != o.version:
            return 'this container serves %s:%s, not %s:%s' % (
                o.name, o.version, message.get('model'), message.get('version'))
        if message.get('input_type') != o.input_type:
            return 'this container takes %s, not %s' % (o.input_type, message.get('input_type'))
        return None

    def on_predict(self, message):
        batch_id = message.get('id')
        try:
            inputs = decode_inputs(message)
            with self.server.predict_lock:
                outputs = self.server.predict(inputs)
            self.send({'t': 'result', 'id': batch_id, 'outputs': encode_outputs(outputs, message['n'])})
        except Exception as err:  # the model's errors fail this batch only
            sys.stderr.write('runner: batch %s failed:\n%s' % (batch_id, traceback.format_exc()))
            sys.stderr.flush()
            self.send({'t': 'error', 'id': batch_id, 'message': '%s: %s' % (type(err).__name__, err)})

    def heartbeat(self, interval_s):
        while not self.closed.wait(interval_s):
            if not self.send({'t': 'hb'}):
                return


class Server:
    def __init__(self, options, predict):
        self.options = options
        self.predict = predict
        self.predict_lock = threading.Lock()
        self.connections = set()
        self.connections_lock = threading.Lock()
        infos = socket.getaddrinfo(options.host, options.port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, socktype, proto, _, address = infos[0]
        self.listener = socket.socket(family, socktype, proto)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(address)
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]

    def forget(self, connection):
        with self.connections_lock:
            self.connections.discard(connection)

    def accept_loop(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(sock, self)
            with self.connections_lock:
                self.connections.add(connection)
            threading.Thread(target=connection.serve, name='clipper-conn', daemon=True).start()

    def shutdown(self):
        try:
            self.listener.close()
        except OSError:
            pass
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            connection.send({'t': 'bye', 'reason': 'container shutting down'})
            with connection.send_lock:
                connection.closed.set()
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _stdin_is_watchable():
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _touch(path):
    try:
        os.utime(path, None)
    except OSError:
        try:
            open(path, 'a').close()
        except OSError:
            pass  # a read-only file system: the health check reports it


def main(argv=None):
    options = parse_options(sys.argv[1:] if argv is None else argv)
    try:
        predict = load_framework_predict(options.framework, options.model, options.function, options.device,
                                         options.threads)
        server = Server(options, predict)
    except BaseException as err:  # noqa: BLE001 (a model file may raise anything, SystemExit too)
        if not isinstance(err, ModelLoadError):  # our own errors say all there is to say
            traceback.print_exc()
        sys.stderr.write('runner: cannot serve %s: %s: %s\n' % (options.model, type(err).__name__, err))
        sys.stderr.flush()
        os._exit(1)

    exiting = threading.Lock()

    def exit_now(*_):
        if not exiting.acquire(blocking=False):
            return
        # Say bye where we can, but never hang on a peer that does not read.
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        closer.join(1.0)
        sys.stdout.flush()
        os._exit(0)

    # A signal may land on any thread, and Python runs its handler only when the main thread runs
    # bytecode: so the main thread waits in select() on a wakeup pipe the C handler writes to.
    wakeup_r, wakeup_w = os.pipe()
    os.set_blocking(wakeup_w, False)
    signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, exit_now)
    signal.signal(signal.SIGINT, exit_now)
    threading.Thread(target=server.accept_loop, name='clipper-accept', daemon=True).start()
    sys.stdout.write(json.dumps({'clipper_ready': True, 'port': server.port, 'pid': os.getpid()},
                                separators=(',', ':')) + '\n')
    sys.stdout.flush()

    watch = options.watch_stdin == 'yes' or (options.watch_stdin == 'auto' and _stdin_is_watchable())
    # The manager holds our stdin pipe: never outlive it.
    watched = [wakeup_r, 0] if watch else [wakeup_r]
    alive_file = options.alive_file
    while True:
        if alive_file is not None:
            _touch(alive_file)
        readable, _, _ = select.select(watched, [], [], 1.0 if alive_file is not None else None)
        if wakeup_r in readable:
            os.read(wakeup_r, 512)  # the handler itself runs as soon as we are back in bytecode
        if 0 in readable:
            try:
                if not os.read(0, 65536):
                    break
            except OSError:
                break
    exit_now()


if __name__ == '__main__':
    main()
