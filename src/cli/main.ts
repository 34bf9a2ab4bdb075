// The `clipper` command line.
//   clipper start [--example] [--config FILE] [--print-config] [--<option> VALUE ...]
//                 (every option of src/config.ts; src/config_sources.ts merges the sources)
//   clipper register-app | deploy | link | predict | logs ...   (cli/admin.ts)
//   clipper plan APP --rate R ...                         (cli/plan.ts)
//   clipper build ...                                     (cli/build.ts)
//   clipper docker-images ...                             (cli/images.ts)
//   clipper k8s manifests|apply ...                       (cli/k8s.ts)
//   clipper bench ...                                     (tools/loadgen, run as a child process)

import { readFileSync } from 'node:fs';
import { isAdminCommand, kAdminUsage, runAdminCommand } from './admin.js';
import { kBuildUsage, runBuild } from './build.js';
import { kImagesUsage, runImages } from './images.js';
import { kK8sUsage, runK8s } from './k8s.js';
import { kPlanUsage } from './plan_args.js';
import { kLoadgenPath } from '../paths.js';
import { runTool } from './run_tool.js';
import { configFromSources, formatEffectiveConfig, startOptionsUsage } from '../config_sources.js';
import { adminHostOf, type ClipperConfig } from '../config.js';
import { isLoopbackHost } from '../lib/loopback.js';

/** A host as written in a URL: IPv6 addresses in brackets. */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

const kUsage = `usage: clipper <command> [options]

commands:
  start     run a local cluster (query frontend, management API, batching workers, replicas)
            --example            also deploy Clipper's quickstart (app hello-world → sum-model)
            --host H             interface to bind (default 127.0.0.1)
            --admin-host H       interface of the management API (default: --host)
            --admin-token T      token every management request must carry (Authorization: Bearer T);
                                 required when the management API is not on loopback
            --admin-token-file F the token from a file (CLIPPER_ADMIN_TOKEN / _FILE in the environment)
            --tls-cert-file F --tls-key-file F   PEM files: both ports serve HTTPS and WSS
            --query-port N       query frontend port (default 1337)
            --admin-port N       management API port (default 1338)
            --threads N          batching worker threads (default: cores - 1)
            --state URL          memory: (default) or redis://host:port
            --cluster-name NAME  key namespace in a shared state store (default "default")
            --containers local|docker|kubernetes  where replicas run unless a model says (default local)
            --kubeconfig FILE    Kubernetes API (default: the pod's service account, $KUBECONFIG,
                                 ~/.kube/config); or --kubernetes-proxy-addr HOST:PORT (kubectl proxy)
            --docker-host URL    Docker engine (default $DOCKER_HOST or unix:///var/run/docker.sock)
            --config FILE        options from a JSON file, e.g. {"cacheBytesMax": 0}
            --print-config       print the effective configuration and each value's source, then exit
            --<option> VALUE     every option has a flag (--cache-bytes-max 0) and an environment
                                 variable (CLIPPER_CACHE_BYTES_MAX=0); flags > environment > file >
                                 defaults; all of them: clipper start --help
${kAdminUsage}${kPlanUsage}${kBuildUsage}${kImagesUsage}${kK8sUsage}  bench     measure a running server: throughput and latency per concurrency or rate level,
            SLO attainment, server batch sizes; reports in JSON, CSV and HTML (clipper bench --help)
  help      this text
`;

/** Prints where both servers listen (https:// with TLS) and warns of a token sent in clear; returns the query frontend's URL. */
function announce(c: Readonly<ClipperConfig>, queryPort: number, adminPort: number): string {
  const scheme = c.tlsCertFile === '' ? 'http' : 'https'; // config.ts: the key file is set with it
  const adminHost = adminHostOf(c);
  const queryUrl = `${scheme}://${urlHost(c.host)}:${queryPort}`;
  const adminUrl = `${scheme}://${urlHost(adminHost)}:${adminPort}`;
  process.stdout.write(`clipper: query frontend on ${queryUrl}, management API on ${adminUrl}\n`);
  // Reachable where the management API is (same host, port and token).
  process.stdout.write(`clipper: dashboard on ${adminUrl}/dashboard\n`);
  // Off loopback without a token it never starts (config.ts); with a token but no TLS, the token crosses the network in clear.
  if (!isLoopbackHost(adminHost) && scheme === 'http') {
    process.stderr.write(
      `clipper: WARNING: the management API listens on ${adminHost} over plain HTTP, so its token crosses the network ` +
        'unencrypted; set --tls-cert-file and --tls-key-file, or keep it on loopback with --admin-host 127.0.0.1\n',
    );
  }
  return queryUrl;
}

async function start(argv: string[]): Promise<number> {
  const options = configFromSources({ argv, env: process.env, readText: (file) => readFileSync(file, 'utf8') });
  if (options.help) {
    process.stdout.write(startOptionsUsage());
    return 0;
  }
  if (options.printConfig) {
    process.stdout.write(formatEffectiveConfig(options));
    return 0;
  }
  const { config } = options;
  // Started by bin/clipper.js with the serving flags: stop when that parent goes away, also if it
  // goes while the cluster is still starting (the event fires once, so listen from the start).
  let parentGone = false;
  const onParentGone = (): void => {
    parentGone = true;
  };
  if (process.channel !== undefined) process.on('disconnect', onParentGone);
  // The cluster's modules load only here, so the management commands start quickly.
  const { Cluster } = await import('../cluster.js');
  const { installExample } = await import('../admin/example.js');
  const { startAdminServer } = await import('../admin/admin_server.js');
  let cluster: Awaited<ReturnType<typeof Cluster.start>>;
  try {
    // log: image builds for Docker replicas
    cluster = await Cluster.start({ config, startAdmin: startAdminServer, log: (line) => process.stderr.write(`clipper: ${line}\n`) });
  } catch (err) {
    // The IPC channel to bin/clipper.js would keep this process alive after the error: let it go.
    if (process.connected) process.disconnect();
    throw err;
  }
  const queryUrl = announce(cluster.config, cluster.queryPort, cluster.adminPort);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`clipper: ${signal}, shutting down\n`);
    cluster.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`clipper: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (process.channel !== undefined) {
    process.off('disconnect', onParentGone);
    process.on('disconnect', () => stop('parent exited'));
    if (parentGone || !process.connected) stop('parent exited');
  }
  if (options.example) {
    await installExample(cluster);
    process.stdout.write(`clipper: example ready: curl -X POST -d '{"input":[1.1,2.2,3.3]}' ${queryUrl}/hello-world/predict\n`);
  }
  return new Promise<number>(() => {
    /* runs until a signal */
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (isAdminCommand(command)) return runAdminCommand(command!, rest);
  try {
    switch (command) {
      case 'start':
        return await start(rest);
      case 'build':
        return await runBuild(rest);
      case 'docker-images':
        return await runImages(rest);
      case 'k8s':
        return await runK8s(rest);
      case 'plan': {
        // The planner (simulator and search) loads only for this command.
        const { runPlanCommand } = await import('./plan.js');
        return await runPlanCommand(rest);
      }
      case 'bench':
        return await runTool(kLoadgenPath, rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(kUsage);
        return command === undefined ? 1 : 0;
      default:
        process.stderr.write(`clipper: unknown command '${command}'\n${kUsage}`);
        return 1;
    }
  } catch (err) {
    process.stderr.write(`clipper: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
