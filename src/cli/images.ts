// `clipper docker-images`: builds, from this machine's own files (no registry pulls), the images
// containers/compose.yaml runs: the node base (and the python base with --python), the server,
// Redis and the quickstart model sum-model:1. Prints each tag on stdout, progress on stderr.

import { parseArgs } from 'node:util';
import { connectDocker, dockerHostOf } from '../containers/docker/engine.js';
import { buildSystemImages } from '../containers/docker/system_images.js';

export const kImagesUsage = `  docker-images  build the images of containers/compose.yaml from local files (no registry pulls):
            node base, clipper-ts/server:<version> and :local, clipper-ts/redis:local, sum-model:1
            [--python (also the python base image)] [--docker-host URL] [--quiet (no build output)]
`;

export async function runImages(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'docker-host': { type: 'string' },
      python: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const docker = await connectDocker(dockerHostOf(values['docker-host'] ?? ''));
  const log =
    values.quiet === true
      ? () => {}
      : (line: string): void => {
          process.stderr.write(`${line}\n`);
        };
  const built = await buildSystemImages(docker, { python: values.python === true, log });
  for (const image of built) {
    const size = `${(image.sizeBytes / 1e6).toFixed(0)} MB`;
    process.stdout.write(`${image.tags.join(' ')}\t${size}\t${(image.buildMs / 1000).toFixed(1)} s\n`);
  }
  return 0;
}
