// `clipper list apps|models|replicas` and `clipper status`: what a running cluster serves, read from
// the management API's verbose listings (get_all_applications, get_all_models, get_all_containers).
// `status` exits 1 when a replica that a model version wants is not connected.

import type { AppInfo, ContainerInfo, ModelInfo } from '../client/admin_client.js';
import { formatTable, parse, say } from './admin_args.js';
import { ClipperError } from '../errors.js';

export const kStatusUsage = `  list      list apps | models | replicas as a table; --json for the server's JSON
  status    what runs: each app with its linked models and their current versions, each model
            version with its replicas (manager, state, health, restarts, connected); exits 1
            when a wanted replica is not connected. --json for JSON
`;

const kListKinds = ['apps', 'models', 'replicas'] as const;

function appsTable(apps: readonly AppInfo[]): string {
  return formatTable(
    ['NAME', 'INPUT_TYPE', 'SLO_MICROS', 'POLICY', 'LINKED_MODELS', 'DEFAULT_OUTPUT'],
    apps.map((a) => [
      a.name,
      a.input_type,
      String(a.latency_slo_micros),
      a.selection_policy ?? 'default',
      a.linked_models.join(',') || '-',
      JSON.stringify(a.default_output),
    ]),
  );
}

function modelsTable(models: readonly ModelInfo[]): string {
  return formatTable(
    ['NAME', 'VERSION', 'CURRENT', 'INPUT_TYPE', 'REPLICAS', 'BATCH_SIZE', 'LABELS'],
    models.map((m) => [
      m.model_name,
      m.model_version,
      m.is_current_version ? 'yes' : 'no',
      m.input_type,
      String(m.num_replicas ?? 0),
      String(m.batch_size ?? -1),
      m.labels.join(',') || '-',
    ]),
  );
}

function whereOf(c: ContainerInfo): string {
  if (c.container_id !== undefined && c.container_id !== null) return `container ${c.container_id.slice(0, 12)}`;
  return c.pid === undefined || c.pid === null ? '-' : `pid ${c.pid}`;
}

function replicaCells(c: ContainerInfo): string[] {
  return [c.manager ?? '-', c.state ?? '-', c.health ?? '-', String(c.restart_count ?? 0), c.connected === true ? 'yes' : 'no', whereOf(c)];
}

function replicasTable(replicas: readonly ContainerInfo[]): string {
  return formatTable(
    ['MODEL', 'VERSION', 'REPLICA', 'MANAGER', 'STATE', 'HEALTH', 'RESTARTS', 'CONNECTED', 'WHERE'],
    replicas.map((c) => [c.model_name, c.model_version, String(c.model_replica_id), ...replicaCells(c)]),
  );
}

async function list(argv: string[]): Promise<void> {
  const { values, positionals, connection } = parse(argv, { json: { type: 'boolean', default: false } }, true);
  const kind = positionals[0];
  if (positionals.length !== 1 || !(kListKinds as readonly string[]).includes(kind!)) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `usage: clipper list ${kListKinds.join('|')} [--json]`);
  }
  const json = values.json === true;
  if (kind === 'apps') {
    const apps = await connection.getAllApps(true);
    say(json ? JSON.stringify(apps) : apps.length === 0 ? 'no applications' : appsTable(apps));
  } else if (kind === 'models') {
    const models = await connection.getAllModels(true);
    say(json ? JSON.stringify(models) : models.length === 0 ? 'no models' : modelsTable(models));
  } else {
    const replicas = await connection.getAllContainers(true);
    say(json ? JSON.stringify(replicas) : replicas.length === 0 ? 'no replicas' : replicasTable(replicas));
  }
}

interface VersionStatus {
  model_name: string;
  model_version: string;
  is_current_version: boolean;
  replicas_wanted: number;
  replicas_connected: number;
  replicas: ContainerInfo[];
}

export interface ClusterStatus {
  ok: boolean;
  /** Each app with its linked models and their current versions (null: none is current). */
  apps: Array<{ name: string; input_type: string; linked_models: Array<{ model_name: string; current_version: string | null }> }>;
  models: VersionStatus[];
  /** What keeps `ok` false, one line each. */
  problems: string[];
}

export function clusterStatus(apps: readonly AppInfo[], models: readonly ModelInfo[], replicas: readonly ContainerInfo[]): ClusterStatus {
  const current = new Map(models.filter((m) => m.is_current_version).map((m) => [m.model_name, m.model_version]));
  const versions: VersionStatus[] = models.map((m) => {
    const own = replicas.filter((c) => c.model_name === m.model_name && c.model_version === m.model_version);
    return {
      model_name: m.model_name,
      model_version: m.model_version,
      is_current_version: m.is_current_version,
      replicas_wanted: m.num_replicas ?? 0,
      replicas_connected: own.filter((c) => c.connected === true).length,
      replicas: own,
    };
  });
  const problems: string[] = [];
  for (const v of versions) {
    if (v.replicas_connected < v.replicas_wanted) {
      problems.push(`${v.model_name}:${v.model_version} wants ${v.replicas_wanted} replica(s), ${v.replicas_connected} connected`);
    }
  }
  return {
    ok: problems.length === 0,
    apps: apps.map((a) => ({
      name: a.name,
      input_type: a.input_type,
      linked_models: a.linked_models.map((name) => ({ model_name: name, current_version: current.get(name) ?? null })),
    })),
    models: versions,
    problems,
  };
}

function statusText(s: ClusterStatus): string {
  const lines: string[] = [s.apps.length === 0 ? 'applications: none' : 'applications:'];
  for (const app of s.apps) {
    const linked = app.linked_models.map((l) => `${l.model_name}:${l.current_version ?? '(no current version)'}`);
    lines.push(`  ${app.name} (${app.input_type}) -> ${linked.length === 0 ? '(no linked models)' : linked.join(', ')}`);
  }
  lines.push(s.models.length === 0 ? 'models: none' : 'models:');
  for (const v of s.models) {
    lines.push(
      `  ${v.model_name}:${v.model_version}${v.is_current_version ? ' (current)' : ''}: ` +
        `${v.replicas_connected}/${v.replicas_wanted} replica(s) connected`,
    );
    for (const c of v.replicas) {
      const [manager, state, health, restarts, connected, where] = replicaCells(c);
      lines.push(
        `    replica ${c.model_replica_id}: ${manager} ${state}, health ${health}, restarts ${restarts}, ` +
          `connected ${connected}, ${where}`,
      );
    }
  }
  lines.push(s.ok ? 'ok: every wanted replica is connected' : `not ready: ${s.problems.join('; ')}`);
  return `${lines.join('\n')}\n`;
}

async function status(argv: string[]): Promise<number> {
  const { values, connection } = parse(argv, { json: { type: 'boolean', default: false } });
  const [apps, models, replicas] = await Promise.all([
    connection.getAllApps(true),
    connection.getAllModels(true),
    connection.getAllContainers(true),
  ]);
  const s = clusterStatus(apps, models, replicas);
  say(values.json === true ? JSON.stringify(s) : statusText(s));
  return s.ok ? 0 : 1;
}

export const kStatusCommands: Readonly<Record<string, (argv: string[]) => Promise<unknown>>> = { list, status };
