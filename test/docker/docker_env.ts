// Whether the Docker tests can run here: a Docker engine answering at DOCKER_HOST or the default
// socket. The test setup (scripts/run_tests.mjs) starts one when it can; a test file skips, saying
// why, only where none answers.

import { connectDocker, dockerHostOf } from '../../src/containers/docker/engine.js';

let cached: Promise<string | null> | null = null;

/** null when an engine answers; otherwise the reason the Docker tests skip. */
export function dockerSkipReason(): Promise<string | null> {
  cached ??= connectDocker(dockerHostOf(''), 3000).then(
    () => null,
    (err: Error) => `no Docker engine: ${err.message}`,
  );
  return cached;
}
