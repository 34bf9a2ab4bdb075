"""ClipperConnection: Clipper's admin client (clipper_admin.ClipperConnection) for a clipper-ts server.

Same method names, arguments and return shapes. The server runs the model replicas, so the
container manager passed in only says where the server answers (see container_manager.py), and
nothing here needs Docker or a shared disk: deployers upload their files through the management
API (POST /admin/upload_model).
"""

import base64
import logging
import os
import time

from . import _http
from .container_manager import CONTAINERLESS_MODEL_IMAGE, LocalContainerManager
from .exceptions import ClipperException, UnconnectedException

logger = logging.getLogger(__name__)

DEFAULT_LABEL = []
DEFAULT_PREDICTION_CACHE_SIZE_BYTES = 33554432


class ClipperConnection(object):
    def __init__(self, container_manager=None, admin_url=None, query_url=None, timeout_s=300.0, admin_token=None):
        """container_manager: a DockerContainerManager, LocalContainerManager or
        KubernetesContainerManager saying where the server is (default: LocalContainerManager(),
        127.0.0.1:1338 and :1337). admin_url / query_url override its addresses. timeout_s bounds
        each request (a deploy waits until its replicas run). admin_token: the management API's
        token, sent as `Authorization: Bearer <token>` on management requests only (default:
        $CLIPPER_ADMIN_TOKEN; none when unset)."""
        self.cm = container_manager if container_manager is not None else LocalContainerManager()
        self.admin_url = (admin_url or self.cm.admin_url).rstrip('/')
        self.query_url = (query_url or self.cm.query_url).rstrip('/')
        self.timeout_s = timeout_s
        self._admin_headers = _http.admin_headers(_http.admin_token(admin_token))
        self.connected = False

    # -- plumbing -------------------------------------------------------------------------------

    def _require_connected(self):
        if not self.connected:
            raise UnconnectedException()

    def _admin(self, command, body):
        self._require_connected()
        _, _, text = _http.request('%s/admin/%s' % (self.admin_url, command), body, self.timeout_s,
                                   headers=self._admin_headers)
        return text

    def _admin_json(self, command, body):
        return _http.parse_json(self._admin(command, body), '/admin/%s' % command)

    def _probe(self):
        """Raise ClipperException unless both the management API and the query frontend answer."""
        problems = []
        for url, headers in (('%s/admin/ping' % self.admin_url, self._admin_headers), ('%s/healthz' % self.query_url, None)):
            try:
                _http.request(url, None, min(self.timeout_s, 10.0), headers=headers)
            except ClipperException as err:
                problems.append(str(err))
        if problems:
            raise ClipperException(
                'No clipper-ts server answers at %s (management) and %s (queries): %s. Start one with '
                '`clipper start` (clipper_ts connects to a running server; it does not start servers '
                'from Python)' % (self.admin_url, self.query_url, '; '.join(problems)))

    # -- cluster --------------------------------------------------------------------------------

    def start_clipper(self, query_frontend_image=None, mgmt_frontend_image=None, frontend_exporter_image=None,
                      cache_size=DEFAULT_PREDICTION_CACHE_SIZE_BYTES, qf_http_thread_pool_size=1,
                      qf_http_timeout_request=5, qf_http_timeout_content=300, num_frontend_replicas=1, **ignored):
        """Connect to a running server; raise ClipperException saying to run `clipper start` if none
        answers. Clipper's image, cache and thread arguments are accepted and ignored: they are
        server settings (`clipper start` options and config file)."""
        self._probe()
        self.connected = True
        logger.info('Clipper is running at %s', self.admin_url)

    def connect(self):
        """Check that the server answers and mark this connection usable."""
        self._probe()
        self.connected = True
        logger.info('Successfully connected to Clipper cluster at %s', self.get_query_addr())

    def get_query_addr(self):
        self._require_connected()
        return self.query_url.split('://', 1)[-1]

    def get_metric_addr(self):
        """The query frontend's host:port: metrics are served there at /metrics."""
        self._require_connected()
        return self.get_query_addr()

    # -- applications ---------------------------------------------------------------------------

    def register_application(self, name, input_type, default_output, slo_micros):
        self._admin('add_app', {'name': name, 'input_type': input_type, 'default_output': default_output,
                                'latency_slo_micros': int(slo_micros)})
        logger.info("Application %s was successfully registered", name)

    def add_pipeline_app(self, name, input_type, default_output, slo_micros, pipeline):
        """clipper-ts only: register an application that serves a pipeline of models (a dict
        {"stages": [...], "output": <stage>}, docs/pipelines.md) instead of linked models."""
        self._admin('add_app', {'name': name, 'input_type': input_type, 'default_output': default_output,
                                'latency_slo_micros': int(slo_micros), 'pipeline': pipeline})
        logger.info("Pipeline application %s was successfully registered", name)

    def set_app_pipeline(self, name, pipeline):
        """clipper-ts only: replace an application's pipeline (None makes it a plain app again)."""
        self._admin('set_app_pipeline', {'name': name, 'pipeline': pipeline})

    def unregister_application(self, name):
        self._admin('delete_app', {'name': name})
        logger.info('Application %s was successfully unregistered', name)

    def delete_application(self, name):
        """Deprecated (as in Clipper): use unregister_application."""
        logger.warning('delete_application is deprecated: use unregister_application')
        self.unregister_application(name)

    def link_model_to_app(self, app_name, model_name):
        self._admin('add_model_links', {'app_name': app_name, 'model_names': [model_name]})
        logger.info('Model %s is now linked to application %s', model_name, app_name)

    def unlink_model_from_app(self, app_name, model_name):
        self._admin('delete_model_links', {'app_name': app_name, 'model_names': [model_name]})
        logger.info('Model %s is now removed from application %s', model_name, app_name)

    def get_all_apps(self, verbose=False):
        return self._admin_json('get_all_applications', {'verbose': bool(verbose)})

    def get_app_info(self, name):
        info = self._admin_json('get_application', {'name': name})
        return info or None

    def get_linked_models(self, app_name):
        return self._admin_json('get_linked_models', {'app_name': app_name})

    # -- models ---------------------------------------------------------------------------------

    def register_model(self, name, version, input_type, image=None, labels=None, batch_size=-1):
        """Register a model version without starting replicas (Clipper's register_model: its
        containers were started apart). `image` is recorded as the container_name; start replicas
        with set_num_replicas (needs a server that can run the image: `--containers docker`)."""
        body = {'model_name': name, 'model_version': str(version), 'labels': list(labels or DEFAULT_LABEL),
                'input_type': input_type, 'model_data_path': 'DEPRECATED', 'batch_size': int(batch_size),
                'num_replicas': 0}
        if image is not None and image != CONTAINERLESS_MODEL_IMAGE:
            body['container_name'] = image
        self._admin('add_model', body)
        logger.info('Successfully registered model %s:%s', name, version)

    def deploy_model(self, name, version, input_type, image, labels=None, num_replicas=1, batch_size=-1):
        """Run `image` (a Docker image the server's Docker engine can pull or has) as model
        name:version with num_replicas replicas; returns once they run."""
        self._admin('add_model', {
            'model_name': name, 'model_version': str(version), 'labels': list(labels or DEFAULT_LABEL),
            'input_type': input_type, 'container_name': image, 'model_data_path': 'DEPRECATED',
            'batch_size': int(batch_size), 'num_replicas': int(num_replicas),
            'container': {'manager': 'docker', 'image': image}})
        logger.info('Successfully registered model %s:%s', name, version)

    def build_model(self, name, version, model_data_path, base_image, container_registry=None,
                    pkgs_to_install=None):
        """Not available: clipper-ts builds model images on the server (`clipper build`, or the
        `pkgs_to_install` of a deploy). Use build_and_deploy_model, which uploads the files."""
        raise ClipperException('build_model builds images on the client, which clipper-ts does not do: use '
                               'build_and_deploy_model (it uploads model_data_path to the server), or '
                               '`clipper build` on the server')

    def build_and_deploy_model(self, name, version, input_type, model_data_path, base_image, labels=None,
                               container_registry=None, num_replicas=1, batch_size=-1, pkgs_to_install=None,
                               function='predict', entry='func.pkl', manager=None):
        """Upload the files at the top level of the directory model_data_path (Clipper's deployers
        save func.pkl there) and deploy them as a Python model: the server loads `entry` (default
        func.pkl) and calls it (or its `function` method). base_image and container_registry are
        ignored (the server's Python runtime is the base). pkgs_to_install are Debian packages and
        run the model in Docker (manager='docker'), whose image gets the whole directory."""
        self._require_connected()
        if not os.path.isdir(model_data_path):
            raise ClipperException('model_data_path %r is not a directory' % model_data_path)
        names = sorted(os.listdir(model_data_path))
        subdirs = [n for n in names if os.path.isdir(os.path.join(model_data_path, n)) and n != '__pycache__']
        if subdirs:
            raise ClipperException('model_data_path %r has subdirectories (%s): only the files at its top level '
                                   'can be uploaded' % (model_data_path, ', '.join(subdirs)))
        if entry not in names:
            raise ClipperException('model_data_path %r has no %s to run' % (model_data_path, entry))
        server_path = None
        first = None  # every file goes into the first upload's own directory
        try:
            for file_name in [entry] + [n for n in names if n != entry]:
                local = os.path.join(model_data_path, file_name)
                if not os.path.isfile(local):
                    continue
                with open(local, 'rb') as f:
                    upload_id = None if first is None else os.path.basename(os.path.dirname(first))
                    uploaded = self.upload_model_file(name, version, file_name, f.read(), upload_id=upload_id)
                first = first or uploaded
                if file_name == entry:
                    server_path = uploaded
            self.deploy_uploaded_model(name, version, input_type, server_path, function=function, labels=labels,
                                       num_replicas=num_replicas, batch_size=batch_size,
                                       pkgs_to_install=pkgs_to_install, manager=manager, whole_folder=True)
        except ClipperException:
            if first is not None:
                self.discard_uploaded_model(name, version, first)
            raise

    def upload_model_file(self, name, version, file_name, data, upload_id=None):
        """Store `data` (bytes) as <models dir>/<name>/<version>/upload-<id>/<file_name> on the server,
        in a new directory of its own (or, with upload_id, the one of an earlier upload: the name of
        the directory in its path); returns the server's absolute path. Nothing an earlier deploy
        uses is ever replaced. (A clipper-ts addition: POST /admin/upload_model.)"""
        encoded = base64.b64encode(bytes(data)).decode('ascii')
        body = {'model_name': name, 'model_version': str(version), 'file_name': file_name, 'data': encoded}
        if upload_id is not None:
            body['upload_id'] = upload_id
        reply = self._admin_json('upload_model', body)
        return reply['path']

    def discard_uploaded_model(self, name, version, server_path):
        """Best effort: remove the upload directory holding server_path (after a refused deploy).
        Never raises; returns True when the server removed it. (POST /admin/discard_upload.)"""
        try:
            reply = self._admin_json('discard_upload', {'model_name': name, 'model_version': str(version),
                                                        'path': server_path})
            return reply.get('removed') is not None
        except Exception as err:  # noqa: BLE001 (best effort: the deploy's own error matters)
            logger.warning('could not remove the upload %s: %s', server_path, err)
            return False

    def deploy_uploaded_model(self, name, version, input_type, server_path, function='predict', labels=None,
                              num_replicas=1, batch_size=-1, pkgs_to_install=None, manager=None,
                              whole_folder=False, framework=None, options=None):
        """add_model with a container spec whose entry is an uploaded file; waits until the replicas
        run. pkgs_to_install implies manager='docker'. framework (pytorch, xgboost, onnx, ...) implies
        the runtime (else python); options are its runtime options, e.g. {'device': 'cpu'}; function
        None leaves the runner's default. (A clipper-ts addition.)"""
        container = {'runtime': 'python'} if framework is None else {'framework': framework}
        container['entry'] = server_path
        if function is not None:
            container['function'] = function
        if options:
            container['options'] = dict(options)
        if pkgs_to_install:
            container['pkgs_to_install'] = list(pkgs_to_install)
            if manager not in (None, 'docker'):
                raise ClipperException('pkgs_to_install installs Debian packages into a Docker image: it needs '
                                       "manager='docker' (got %r)" % (manager,))
            manager = 'docker'
        if manager is not None:
            container['manager'] = manager
        if manager == 'docker' and whole_folder:
            container['folder'] = os.path.dirname(server_path)
            container['entry'] = os.path.basename(server_path)
        self._admin('add_model', {
            'model_name': name, 'model_version': str(version), 'labels': list(labels or DEFAULT_LABEL),
            'input_type': input_type, 'container_name': 'clipper-ts/%s' % (framework or 'python'),
            'model_data_path': server_path,
            'batch_size': int(batch_size), 'num_replicas': int(num_replicas), 'container': container})
        logger.info('Successfully registered model %s:%s', name, version)

    def get_current_model_version(self, name):
        for model in self.get_all_models(verbose=True):
            if model['model_name'] == name and model['is_current_version']:
                return model['model_version']
        raise ClipperException('No versions of model %s registered with Clipper' % name)

    def set_model_version(self, name, version, num_replicas=None):
        """Make `version` current (rollback or roll-forward); optionally resize it after."""
        self._admin('set_model_version', {'model_name': name, 'model_version': str(version)})
        if num_replicas is not None:
            self.set_num_replicas(name, num_replicas, version)

    def get_num_replicas(self, name, version=None):
        """The replica count the server keeps for name:version (the current version by default)."""
        version = self.get_current_model_version(name) if version is None else str(version)
        info = self.get_model_info(name, version)
        if info is None:
            raise ClipperException('Model %s:%s does not exist' % (name, version))
        return int(info['num_replicas'])

    def set_num_replicas(self, name, num_replicas, version=None):
        """Start or stop replicas of name:version (the current version by default); returns once the
        new replicas run."""
        version = self.get_current_model_version(name) if version is None else str(version)
        self._admin('set_num_replicas', {'model_name': name, 'model_version': version,
                                         'num_replicas': int(num_replicas)})

    def get_all_models(self, verbose=False):
        return self._admin_json('get_all_models', {'verbose': bool(verbose)})

    def get_model_info(self, name, version):
        info = self._admin_json('get_model', {'model_name': name, 'model_version': str(version)})
        return info or None

    def get_all_model_replicas(self, verbose=False):
        return self._admin_json('get_all_containers', {'verbose': bool(verbose)})

    def get_model_replica_info(self, name, version, replica_id):
        info = self._admin_json('get_container', {'model_name': name, 'model_version': str(version),
                                                  'replica_id': int(replica_id)})
        return info or None

    def status(self):
        """What runs, as `clipper status` prints it (not in Clipper): each app with its linked models'
        current versions, each model version with its replicas, and whether every wanted replica is
        connected (`ready`; `problems` says which are not)."""
        self._require_connected()
        models = self.get_all_models(verbose=True)
        replicas = self.get_all_model_replicas(verbose=True)
        current = {m['model_name']: m['model_version'] for m in models if m.get('is_current_version')}
        versions, problems = [], []
        for m in models:
            own = [r for r in replicas
                   if r['model_name'] == m['model_name'] and r['model_version'] == m['model_version']]
            wanted = m.get('num_replicas') or 0
            connected = sum(1 for r in own if r.get('connected'))
            if connected < wanted:
                problems.append('%s:%s wants %d replica(s), %d connected'
                                % (m['model_name'], m['model_version'], wanted, connected))
            versions.append({'model_name': m['model_name'], 'model_version': m['model_version'],
                             'is_current_version': bool(m.get('is_current_version')),
                             'replicas_wanted': wanted, 'replicas_connected': connected, 'replicas': own})
        apps = [{'name': a['name'], 'input_type': a['input_type'],
                 'linked_models': [{'model_name': n, 'current_version': current.get(n)} for n in a['linked_models']]}
                for a in self.get_all_apps(verbose=True)]
        return {'ready': not problems, 'problems': problems, 'apps': apps, 'models': versions}

    # -- logs and metrics -----------------------------------------------------------------------

    def get_clipper_logs(self, logging_dir='clipper_logs/', tail_lines=10000):
        """Write the recent output of every replica of every model version to
        <logging_dir>/<model>-<version>-replica-<id>.log and return the files' paths. (The
        server's own log is not served over the API: read it where the server runs.)"""
        self._require_connected()
        logging_dir = os.path.abspath(os.path.expanduser(logging_dir))
        os.makedirs(logging_dir, exist_ok=True)
        stamp = time.strftime('%Y%m%d-%H%M%S')
        paths = []
        for model in self.get_all_models(verbose=True):
            for replica in self._admin_json('get_logs', {'model_name': model['model_name'],
                                                         'model_version': model['model_version'],
                                                         'tail_lines': int(tail_lines)}):
                path = os.path.join(logging_dir, '%s-%s-replica-%s-%s.log' % (
                    replica['model_name'], replica['model_version'], replica['model_replica_id'], stamp))
                with open(path, 'w') as f:
                    f.write(replica.get('logs') or '')
                paths.append(path)
        return paths

    def inspect_instance(self):
        """The query frontend's metrics as a dict (Clipper's JSON shape)."""
        self._require_connected()
        _, content_type, text = _http.request('%s/metrics' % self.query_url, None, self.timeout_s,
                                              headers={'Accept': 'application/json'})
        if 'json' not in content_type:  # a server that answers /metrics with Prometheus text only
            _, _, text = _http.request('%s/metrics/json' % self.query_url, None, self.timeout_s)
        return _http.parse_json(text, 'GET /metrics')

    # -- stopping -------------------------------------------------------------------------------

    def _versions(self):
        """{name: [versions]} and {name: current version} of every registered model."""
        versions, current = {}, {}
        for model in self.get_all_models(verbose=True):
            versions.setdefault(model['model_name'], []).append(model['model_version'])
            if model['is_current_version']:
                current[model['model_name']] = model['model_version']
        return versions, current

    def stop_models(self, model_names):
        """Stop the replicas of every version of these models and unregister the versions."""
        versions, _ = self._versions()
        self.stop_versioned_models({n: versions[n] for n in model_names if n in versions})

    def stop_versioned_models(self, model_versions_dict):
        """{name: [versions]}: delete each version; the server stops its replicas. As in Clipper a
        current version may be deleted while apps link the model: they answer their default output
        until a version is current again."""
        for name, versions in model_versions_dict.items():
            for version in versions:
                self._admin('delete_versioned_model', {'model_name': name, 'model_version': str(version)})
                logger.info('Model %s:%s was successfully deleted', name, version)

    def stop_inactive_model_versions(self, model_names):
        """Stop and unregister every version of these models but the current one."""
        versions, current = self._versions()
        self.stop_versioned_models({n: [v for v in versions[n] if v != current.get(n)]
                                    for n in model_names if n in versions})

    def stop_all_model_containers(self):
        """Stop and unregister every version of every model."""
        versions, _ = self._versions()
        self.stop_versioned_models(versions)

    def stop_all(self, graceful=True):
        """Stop every model's replicas (deleting every model version). The server itself keeps
        running (stop it where it runs: Ctrl-C or SIGTERM to `clipper start`); `graceful` is ignored."""
        self.stop_all_model_containers()

    # -- local checks ---------------------------------------------------------------------------

    def test_predict_function(self, query, func, input_type):
        """Round-trip `func` through cloudpickle and call it on [query['input']] locally, as the
        server's Python runtime would (numeric types become numpy arrays)."""
        from .deployers._deploy import pickle_function
        import pickle
        import numpy as np
        restored = pickle.loads(pickle_function(func))
        dtypes = {'doubles': np.float64, 'floats': np.float32, 'integers': np.int32, 'ints': np.int32}
        value = query['input']
        if input_type in dtypes:
            value = np.asarray(value, dtype=dtypes[input_type])
        elif input_type in ('bytes',) and isinstance(value, str):
            value = value.encode('utf-8')
        return restored([value])
