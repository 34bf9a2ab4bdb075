"""clipper-ts Python model container: serves one model version over containers/PROTOCOL.md.

Run it as `python3 containers/python/clipper_container/runner.py --model FILE ...` (or
`python3 -m clipper_container.runner` with containers/python on sys.path).
"""

PROTOCOL_VERSION = 1
