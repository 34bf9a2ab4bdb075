#!/usr/bin/env python3
"""Deploy a Python closure to a running clipper-ts server (npm start) and query it.

  /usr/bin/python3 containers/python/examples/closure_example.py [ADMIN_URL] [QUERY_URL]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clipper_client import ClipperConnection, ClipperException  # noqa: E402


def main(argv):
    conn = ClipperConnection(*argv[:2])
    offset = 10.0  # captured by the closure: cloudpickle ships it along

    def add_offset(inputs):
        # Equal-length inputs arrive as one 2-D numpy array: one output per row.
        return [float(row.sum()) + offset for row in inputs]

    try:
        conn.register_application('closure-app', 'doubles', '-1.0', 100000)
    except ClipperException as err:
        print('register_application: %s' % err.body)  # e.g. it exists from an earlier run
    try:
        print(conn.deploy_python_closure('sum-plus-offset', '1', 'doubles', add_offset))
    except ClipperException as err:
        print('deploy_python_closure: %s' % err.body)  # version 1 exists from an earlier run: keep it
    try:
        print(conn.link_model_to_app('closure-app', 'sum-plus-offset'))
    except ClipperException as err:
        print('link_model_to_app: %s' % err.body)
    print(conn.predict('closure-app', [1.0, 2.0, 3.0]))  # output 16.0 once the replica is up


if __name__ == '__main__':
    main(sys.argv[1:])
