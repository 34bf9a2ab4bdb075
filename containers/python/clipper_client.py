"""A small notebook client for clipper-ts: register apps, deploy Python closures and sklearn
models as Python containers, link them, and query.

    from clipper_client import ClipperConnection
    conn = ClipperConnection()                     # admin :1338, queries :1337
    conn.register_application('hello', 'doubles', '-1.0', 100000)
    conn.deploy_python_closure('sum', '1', 'doubles', lambda xs: [float(x.sum()) for x in xs])
    conn.link_model_to_app('hello', 'sum')
    conn.predict('hello', [1.0, 2.0, 3.0])         # {'query_id': 0, 'output': 6.0, 'default': False}

Models are pickled (cloudpickle, so closures and lambdas work) to a new directory of their own,
$CLIPPER_MODELS_DIR/<name>/<version>/deploy-<id>/ (default ~/.clipper/models), a path the server's local
process manager reads; the server must run on the same machine. Standard library + cloudpickle.
"""

import errno
import json
import os
import pickle
import shutil
import urllib.error
import urllib.request

try:
    import cloudpickle
except ImportError:  # plain pickle still handles module-level functions and estimators
    cloudpickle = None

DEFAULT_BATCH_SIZE = -1


class ClipperException(Exception):
    """A request the server refused: carries the HTTP status and the server's body."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


def models_dir():
    return os.environ.get('CLIPPER_MODELS_DIR') or os.path.join(os.path.expanduser('~'), '.clipper', 'models')


def _storage_message(directory, err):
    """What a failed model save says: where, why, and what to do (nothing was kept)."""
    advice = {errno.ENOSPC: 'the file system is full: free space there',
              errno.EDQUOT: 'the disk quota is exceeded: free space or raise the quota',
              errno.EROFS: 'the file system is read-only: remount it read-write',
              errno.EACCES: 'permission denied: fix the permissions',
              errno.EPERM: 'not permitted: fix the permissions'}.get(err.errno, 'fix the cause')
    return ('could not save the model under %s (%s: %s): %s, or point CLIPPER_MODELS_DIR elsewhere, then deploy '
            'again. Nothing was kept.' % (directory, errno.errorcode.get(err.errno, err.errno), err.strerror or err,
                                         advice))


class ClipperConnection:
    def __init__(self, admin_url='http://127.0.0.1:1338', query_url='http://127.0.0.1:1337', timeout_s=60.0,
                 admin_token=None):
        """admin_token: the management API's token, sent as `Authorization: Bearer <token>` on admin
        requests only (default: $CLIPPER_ADMIN_TOKEN; none when unset)."""
        self.admin_url = admin_url.rstrip('/')
        self.query_url = query_url.rstrip('/')
        self.timeout_s = timeout_s
        token = (os.environ.get('CLIPPER_ADMIN_TOKEN', '') if admin_token is None else admin_token).strip()
        self._admin_headers = {'Authorization': 'Bearer %s' % token} if token else {}

    # -- HTTP ---------------------------------------------------------------------------------

    def _post(self, url, body, headers=None):
        data = json.dumps(body).encode('utf-8')
        request = urllib.request.Request(url, data=data, method='POST',
                                         headers=dict(headers or {}, **{'Content-Type': 'application/json'}))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, response.read().decode('utf-8', 'replace')
        except urllib.error.HTTPError as err:
            text = err.read().decode('utf-8', 'replace')
            raise ClipperException('POST %s failed with HTTP %d: %s' % (url, err.code, text),
                                   status=err.code, body=text) from None
        except urllib.error.URLError as err:
            raise ClipperException('POST %s failed: %s (is the server running?)' % (url, err.reason)) from None

    def _admin(self, command, body):
        _, text = self._post('%s/admin/%s' % (self.admin_url, command), body, self._admin_headers)
        return text

    # -- admin --------------------------------------------------------------------------------

    def register_application(self, name, input_type, default_output, slo_micros):
        return self._admin('add_app', {'name': name, 'input_type': input_type,
                                       'default_output': default_output,
                                       'latency_slo_micros': int(slo_micros)})

    def link_model_to_app(self, app_name, model_name):
        return self._admin('add_model_links', {'app_name': app_name, 'model_names': [model_name]})

    def deploy_python_closure(self, name, version, input_type, func, num_replicas=1,
                              batch_size=DEFAULT_BATCH_SIZE, labels=None, pkgs_to_install=None, manager=None):
        """Pickle `func` (called with a batch: a 2-D array, or a list of arrays/str/bytes; it returns
        one output per input) and deploy it as model name:version in a Python container.

        manager: 'local' (a process on the server's machine) or 'docker' (an image `name:version`
        built on the server's machine); None: the server's default. pkgs_to_install: Debian packages
        installed into the image (implies docker), as Clipper's deployers did."""
        if not callable(func):
            raise TypeError('func must be callable, got %s' % type(func).__name__)
        path = self._save_model(name, version, func)
        return self._add_saved_model(name, version, input_type, path, 'predict', num_replicas, batch_size, labels,
                                     pkgs_to_install, manager)

    def deploy_sklearn_model(self, name, version, input_type, model, method='predict', num_replicas=1,
                             batch_size=DEFAULT_BATCH_SIZE, labels=None, pkgs_to_install=None, manager=None):
        """Pickle a fitted estimator and deploy it; the container calls `model.<method>(X)`."""
        if not callable(getattr(model, method, None)):
            raise TypeError('%s has no method %s' % (type(model).__name__, method))
        path = self._save_model(name, version, model)
        return self._add_saved_model(name, version, input_type, path, method, num_replicas, batch_size, labels,
                                     pkgs_to_install, manager)

    def _save_model(self, name, version, obj):
        """Pickle obj to <models dir>/<name>/<version>/deploy-<id>/func.pkl, a directory no other deploy
        uses (created exclusively), so a deploy the server refuses replaces nothing a running model
        loads. A full or read-only disk raises ClipperException naming the directory; nothing is left."""
        for what, value in (('name', name), ('version', version)):
            if not value or any(c in str(value) for c in ',:/\\') or str(value) in ('.', '..'):
                raise ValueError('invalid model %s %r' % (what, value))
        parent = os.path.join(models_dir(), str(name), str(version))
        directory = None
        try:
            os.makedirs(parent, exist_ok=True)
            while directory is None:
                candidate = os.path.abspath(os.path.join(parent, 'deploy-' + os.urandom(8).hex()))
                try:
                    os.mkdir(candidate)
                    directory = candidate
                except FileExistsError:
                    continue
            path = os.path.join(directory, 'func.pkl')
            with open(path, 'xb') as f:
                (cloudpickle or pickle).dump(obj, f)
                f.flush()
                os.fsync(f.fileno())
            return path
        except OSError as err:
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
            raise ClipperException(_storage_message(directory or parent, err)) from None

    def _add_saved_model(self, name, version, input_type, path, *args):
        """add_model for a model _save_model wrote; when the server refuses, remove what was written
        (best effort) and raise the server's error."""
        try:
            return self._add_model(name, version, input_type, path, *args)
        except ClipperException:
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
            raise

    def _add_model(self, name, version, input_type, path, function, num_replicas, batch_size, labels,
                   pkgs_to_install=None, manager=None):
        container = {'runtime': 'python', 'entry': path, 'function': function}
        if pkgs_to_install:
            container['pkgs_to_install'] = list(pkgs_to_install)
            manager = manager or 'docker'
        if manager is not None:
            container['manager'] = manager
        return self._admin('add_model', {
            'model_name': name, 'model_version': str(version), 'labels': list(labels or []),
            'input_type': input_type, 'container_name': 'clipper-ts/python', 'model_data_path': path,
            'batch_size': int(batch_size), 'num_replicas': int(num_replicas), 'container': container,
        })

    def get_logs(self, name, version=None, tail_lines=100):
        """The recent output of each replica of a model version (the current one by default)."""
        body = {'model_name': name, 'tail_lines': int(tail_lines)}
        if version is not None:
            body['model_version'] = str(version)
        return json.loads(self._admin('get_logs', body))

    # -- queries ------------------------------------------------------------------------------

    def predict(self, app_name, input):  # noqa: A002 (Clipper's field name)
        """Query an app with one input; returns the parsed response ({query_id, output, default})."""
        _, text = self._post('%s/%s/predict' % (self.query_url, app_name), {'input': _jsonable(input)})
        return json.loads(text)

    def predict_batch(self, app_name, inputs):
        _, text = self._post('%s/%s/predict' % (self.query_url, app_name),
                             {'input_batch': [_jsonable(x) for x in inputs]})
        return json.loads(text)


def _jsonable(value):
    tolist = getattr(value, 'tolist', None)  # numpy arrays
    return tolist() if callable(tolist) else value


# Module-level helpers in the style of Clipper's deployer functions.

def register_application(conn, name, input_type, default_output, slo_micros):
    return conn.register_application(name, input_type, default_output, slo_micros)


def deploy_python_closure(conn, name, version, input_type, func, num_replicas=1,
                          batch_size=DEFAULT_BATCH_SIZE, pkgs_to_install=None, manager=None):
    return conn.deploy_python_closure(name, version, input_type, func, num_replicas, batch_size,
                                      pkgs_to_install=pkgs_to_install, manager=manager)


def deploy_sklearn_model(conn, name, version, input_type, model, method='predict', num_replicas=1,
                         batch_size=DEFAULT_BATCH_SIZE, pkgs_to_install=None, manager=None):
    return conn.deploy_sklearn_model(name, version, input_type, model, method, num_replicas, batch_size,
                                     pkgs_to_install=pkgs_to_install, manager=manager)


def link_model_to_app(conn, app_name, model_name):
    return conn.link_model_to_app(app_name, model_name)


def predict(conn, app_name, input):  # noqa: A002
    return conn.predict(app_name, input)
