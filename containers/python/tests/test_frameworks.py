"""Unit tests for the runner's framework options (clipper_container/frameworks.py) and the Python
package's framework deployers (clipper_ts/deployers): what they upload and the add_model they send,
checked against a ClipperConnection whose management calls are recorded instead of sent. Run by
test/integration/python_runner.test.ts, or: cd containers/python && python3 -m unittest.
The runner serving these models is tested in test/integration/python_frameworks.test.ts."""

import importlib.util
import io
import pickle
import unittest

from clipper_container.frameworks import framework_problem, threads_problem
from clipper_ts import ClipperConnection
from clipper_ts.deployers import FRAMEWORKS, create_endpoint, deploy_model
from clipper_ts.deployers._deploy import runtime_options
from clipper_ts.deployers.node import node_artifact
from clipper_ts.deployers.onnx import onnx_artifact

HAS_TORCH = importlib.util.find_spec('torch') is not None
HAS_XGBOOST = importlib.util.find_spec('xgboost') is not None


class RecordingConnection(ClipperConnection):
    """Records uploads and management requests; answers them as the server would."""

    def __init__(self):
        super().__init__(admin_url='http://127.0.0.1:9', query_url='http://127.0.0.1:9')
        self.connected = True
        self.uploads = []
        self.requests = []

    def upload_model_file(self, name, version, file_name, data, upload_id=None):
        self.uploads.append((file_name, bytes(data)))
        return '/models/%s/%s/upload-0/%s' % (name, version, file_name)

    def _admin(self, command, body):
        self.requests.append((command, body))
        return '{}'


class RunnerOptionsTest(unittest.TestCase):
    def test_frameworks_of_the_node_runner_and_unknown_ones_are_named(self):
        for name in ('python', 'sklearn', 'pytorch', 'xgboost'):
            self.assertIsNone(framework_problem(name))
        self.assertRegex(framework_problem('onnx'), 'runs in the Node runner')
        self.assertRegex(framework_problem('keras'), "unknown framework 'keras'")

    def test_threads_must_be_1_to_256(self):
        for good in (None, '1', '256'):
            self.assertIsNone(threads_problem(good))
        for bad in ('0', '257', '-1', '2.5', 'many'):
            self.assertRegex(threads_problem(bad), 'integer from 1 to 256')


class DeployShapeTest(unittest.TestCase):
    def test_runtime_options_are_checked_before_any_upload(self):
        self.assertEqual(runtime_options(threads=2, device='cpu'), {'threads': 2, 'device': 'cpu'})
        self.assertEqual(runtime_options(), {})
        for bad in (dict(threads=0), dict(threads=True), dict(threads='2'), dict(device='gpu')):
            with self.assertRaises(ValueError):
                runtime_options(**bad)

    def test_unknown_framework_is_refused_naming_the_known_ones(self):
        conn = RecordingConnection()
        with self.assertRaisesRegex(ValueError, 'framework must be one of python, sklearn, pytorch'):
            deploy_model(conn, 'm', 1, 'doubles', 'tensorflow', object())
        self.assertEqual(conn.uploads, [])
        self.assertEqual(FRAMEWORKS, ('python', 'sklearn', 'pytorch', 'xgboost', 'onnx', 'node'))

    def test_onnx_uploads_the_file_and_deploys_framework_onnx_with_its_output(self):
        conn = RecordingConnection()
        deploy_model(conn, 'm', 3, 'floats', 'onnx', b'\x08\x07onnx', output='probabilities', threads=2,
                     num_replicas=2, batch_size=16)
        self.assertEqual(conn.uploads, [('model.onnx', b'\x08\x07onnx')])
        command, body = conn.requests[-1]
        self.assertEqual(command, 'add_model')
        self.assertEqual(body['container'], {'framework': 'onnx', 'entry': '/models/m/3/upload-0/model.onnx',
                                             'function': 'probabilities', 'options': {'threads': 2}})
        self.assertEqual((body['model_version'], body['num_replicas'], body['batch_size']), ('3', 2, 16))
        with self.assertRaisesRegex(ValueError, 'empty'):
            onnx_artifact(b'')

    def test_create_endpoint_registers_deploys_and_links(self):
        conn = RecordingConnection()
        create_endpoint(conn, 'app', 'doubles', 'node', 'export function predict(xs) { return xs.map(() => 1); }\n',
                        default_output='0', slo_micros=50000)
        self.assertEqual([c for c, _ in conn.requests], ['add_app', 'add_model', 'add_model_links'])
        self.assertEqual(conn.requests[1][1]['container']['framework'], 'node')
        self.assertEqual(conn.uploads[0][0], 'model.mjs')
        self.assertEqual(node_artifact(b'export {}')[0], 'model.mjs')


@unittest.skipUnless(HAS_TORCH, 'PyTorch is not installed (python3-torch)')
class PytorchDeployerTest(unittest.TestCase):
    def test_a_script_module_without_hooks_is_uploaded_as_torchscript(self):
        import torch
        conn = RecordingConnection()
        script = torch.jit.script(torch.nn.Linear(2, 1))
        deploy_model(conn, 'm', 1, 'doubles', 'pytorch', script, device='cpu', threads=3)
        file_name, data = conn.uploads[0]
        self.assertEqual(file_name, 'model.pt')
        loaded = torch.jit.load(io.BytesIO(data))
        self.assertTrue(torch.equal(loaded.weight, script.weight))
        container = conn.requests[-1][1]['container']
        self.assertEqual(container['framework'], 'pytorch')
        self.assertEqual(container['options'], {'threads': 3, 'device': 'cpu'})
        self.assertNotIn('function', container)

    def test_a_module_with_hooks_becomes_a_bundle(self):
        import torch
        conn = RecordingConnection()
        module = torch.nn.Linear(2, 1)
        deploy_model(conn, 'm', 1, 'doubles', 'pytorch', module, pre=abs, post=list)
        file_name, data = conn.uploads[0]
        self.assertEqual(file_name, 'model.pkl')
        bundle = pickle.loads(data)
        self.assertEqual((bundle['clipper_framework'], bundle['format']), ('pytorch', 1))
        self.assertEqual((bundle['pre'], bundle['post']), (abs, list))
        self.assertTrue(torch.equal(bundle['module'].weight, module.weight))
        self.assertEqual(conn.requests[-1][1]['container']['options'], {'device': 'auto'})

    def test_misuse_fails_before_any_upload(self):
        import torch
        conn = RecordingConnection()
        cases = [
            (dict(model=torch.nn.Linear, module_args=(2, 1)), ValueError, 'needs its state_dict'),
            (dict(model=torch.nn.Linear(2, 1), state_dict={}), ValueError, 'an instance carries its own weights'),
            (dict(model=torch.nn.Linear(2, 1), pre='not callable'), TypeError, 'pre must be a function'),
            (dict(model=42), TypeError, 'model must be an nn.Module'),
            (dict(model='model.onnx'), ValueError, 'a TorchScript file must be .pt, .pth'),
            (dict(model=torch.nn.Linear(2, 1), device='tpu'), ValueError, "device must be 'cpu', 'cuda' or 'auto'"),
        ]
        for kwargs, error, pattern in cases:
            with self.assertRaisesRegex(error, pattern):
                deploy_model(conn, 'm', 1, 'doubles', 'pytorch', **kwargs)
        self.assertEqual(conn.uploads, [])


@unittest.skipUnless(HAS_XGBOOST, 'XGBoost is not installed (python3-xgboost)')
class XGBoostDeployerTest(unittest.TestCase):
    def test_a_booster_is_uploaded_as_json_and_has_only_predict(self):
        import numpy as np
        import xgboost as xgb
        x = np.arange(20, dtype=float).reshape(10, 2)
        booster = xgb.train({'nthread': 1}, xgb.DMatrix(x, label=x[:, 0]), 2)
        conn = RecordingConnection()
        deploy_model(conn, 'm', 1, 'doubles', 'xgboost', booster)
        file_name, data = conn.uploads[0]
        self.assertEqual(file_name, 'model.json')
        self.assertTrue(data.startswith(b'{'))
        self.assertEqual(conn.requests[-1][1]['container']['function'], 'predict')
        with self.assertRaisesRegex(ValueError, 'a Booster has only predict'):
            deploy_model(conn, 'm', 2, 'doubles', 'xgboost', booster, method='predict_proba')


if __name__ == '__main__':
    unittest.main()
