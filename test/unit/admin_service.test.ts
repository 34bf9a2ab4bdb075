// The management API's logic (AdminService) over a MemoryStateStore and a FakeAdminContext.

import assert from 'node:assert/strict';
import path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { AdminService, type AdminReply } from '../../src/admin/admin_service.js';
import { ClipperError } from '../../src/errors.js';
import { ControlledStore, deferred, FakeAdminContext } from '../helpers/fake_admin_context.js';
import type { AppRecord } from '../../src/state/records.js';
import { kFixtureModels } from '../helpers/cluster.js';
import { kRepoRoot } from '../../src/paths.js';

let ctx: FakeAdminContext;
let service: AdminService;

beforeEach(async () => {
  ctx = await FakeAdminContext.create(undefined, { numReplicas: 2 });
  service = new AdminService(ctx);
});

const kHello = { name: 'hello', input_type: 'doubles', default_output: '-1.0', latency_slo_micros: 100000 };
const kSum = {
  model_name: 'sum',
  model_version: '1',
  labels: [],
  input_type: 'doubles',
  container_name: 'NO_CONTAINER',
  model_data_path: 'DEPRECATED',
  batch_size: -1,
};
/** A model file inside a model directory (the fake context's modelDirs include the fixtures). */
const kSumEntry = path.join(kFixtureModels, 'counter_model.mjs');
const kNodeContainer = { runtime: 'node', entry: kSumEntry };
const kPyEntry = path.join(kRepoRoot, 'containers', 'python', 'examples', 'closure_example.py');

function call(route: string, body: unknown): Promise<AdminReply> {
  return service.handle(route, body);
}

async function ok(route: string, body: unknown): Promise<string> {
  const reply = await call(route, body);
  assert.equal(reply.status, 200, `${route} failed: ${reply.body}`);
  return reply.body;
}

async function okJson(route: string, body: unknown): Promise<unknown> {
  const reply = await call(route, body);
  assert.equal(reply.status, 200, `${route} failed: ${reply.body}`);
  assert.equal(reply.contentType, 'application/json');
  return JSON.parse(reply.body);
}

/** Asserts an error reply and returns its `cause`. */
async function fails(route: string, body: unknown, status: number, code: string): Promise<string> {
  const reply = await call(route, body);
  assert.equal(reply.contentType, 'application/json');
  const parsed = JSON.parse(reply.body) as { error: string; cause: string; code: string };
  assert.equal(reply.status, status, reply.body);
  assert.equal(parsed.code, code, reply.body);
  assert.equal(typeof parsed.error, 'string');
  return parsed.cause;
}

const current = (name: string): string | undefined => ctx.snapshot().currentVersions.get(name);

describe('get_logs', () => {
  it("returns each replica's output, of the current version by default; unknown models are refused", async () => {
    await ok('add_model', { ...kSum, container: kNodeContainer });
    const logs = (await okJson('get_logs', { model_name: 'sum' })) as Array<Record<string, unknown>>;
    assert.deepEqual(
      logs.map((l) => [l.model_version, l.model_replica_id, l.logs]),
      [
        ['1', 0, 'replica 0 says hello\n'],
        ['1', 1, 'replica 1 says hello\n'],
      ],
    );
    assert.equal(((await okJson('get_logs', { model_name: 'sum', model_version: '1', tail_lines: 5 })) as unknown[]).length, 2);
    assert.match(await fails('get_logs', { model_name: 'nope' }, 400, 'CLP_ERR_NOT_FOUND'), /model 'nope' has no current version/);
    assert.match(await fails('get_logs', { model_name: 'sum', model_version: '9' }, 400, 'CLP_ERR_NOT_FOUND'), /sum:9 does not exist/);
    assert.match(await fails('get_logs', { model_name: 'sum', tail_lines: 0 }, 400, 'CLP_ERR_INVALID_ARG'), /tail_lines/);
  });
});

describe('add_app / delete_app', () => {
  it('accepts the clipper_admin body and stores the app', async () => {
    const reply = await call('add_app', kHello);
    assert.deepEqual(reply, {
      status: 200,
      contentType: 'text/plain; charset=utf-8',
      body: "Successfully added application with name 'hello'",
    });
    assert.deepEqual(ctx.snapshot().apps.get('hello'), {
      name: 'hello',
      input_type: 'doubles',
      default_output: '-1.0',
      latency_slo_micros: 100000,
      linked_models: [],
      selection_policy: 'default',
      overload_response: 'default_output',
    });
  });

  it('stores the canonical input type for every alias', async () => {
    const cases = [
      ['d', 'doubles'],
      ['ints', 'integers'],
      ['i', 'integers'],
      ['f', 'floats'],
      ['strs', 'strings'],
      ['b', 'bytes'],
    ];
    for (const [i, [alias, canonical]] of cases.entries()) {
      await ok('add_app', { ...kHello, name: `app-${i}`, input_type: alias });
      assert.equal(ctx.snapshot().apps.get(`app-${i}`)?.input_type, canonical);
    }
  });

  it('answers 400 on an invalid input_type instead of hanging', async () => {
    const cause = await fails('add_app', { ...kHello, input_type: 'tensor' }, 400, 'CLP_ERR_INVALID_ARG');
    assert.match(cause, /Invalid input_type supplied: 'tensor'/);
    assert.equal(ctx.snapshot().apps.size, 0);
  });

  it('validates app names', async () => {
    for (const name of ['Hello', 'a_b', '-a', 'a-', '', 'a.b', 'x:y', 'a/b', 'a'.repeat(64)]) {
      const cause = await fails('add_app', { ...kHello, name }, 400, 'CLP_ERR_INVALID_ARG');
      assert.match(cause, /Invalid application name supplied/);
    }
    await ok('add_app', { ...kHello, name: 'a'.repeat(63) });
    await ok('add_app', { ...kHello, name: 'my-app-2' });
  });

  it("refuses a duplicate app with Clipper's message", async () => {
    await ok('add_app', kHello);
    assert.equal(await fails('add_app', kHello, 400, 'CLP_ERR_CONFLICT'), "application 'hello' already exists");
  });

  it('names missing keys and wrong types like Clipper', async () => {
    const { latency_slo_micros: _, ...noSlo } = kHello;
    const missing = await fails('add_app', noSlo, 400, 'CLP_ERR_JSON_SCHEMA');
    assert.match(missing, /^Error parsing JSON: JSON object does not have required key: latency_slo_micros\. Expected JSON schema: /);
    const wrongType = await fails('add_app', { ...kHello, latency_slo_micros: '100000' }, 400, 'CLP_ERR_JSON_SCHEMA');
    assert.match(wrongType, /Type mismatch! JSON key latency_slo_micros expected type Int but found type String/);
    await fails('add_app', { ...kHello, latency_slo_micros: 1500.5 }, 400, 'CLP_ERR_JSON_SCHEMA');
    assert.match(
      await fails('add_app', { ...kHello, default_output: -1 }, 400, 'CLP_ERR_JSON_SCHEMA'),
      /default_output expected type String/,
    );
    for (const body of [null, [], 'x', 3]) {
      assert.match(await fails('add_app', body, 400, 'CLP_ERR_JSON_SCHEMA'), /request body must be a JSON object/);
    }
  });

  it('bounds latency_slo_micros', async () => {
    await fails('add_app', { ...kHello, latency_slo_micros: 999 }, 400, 'CLP_ERR_INVALID_ARG');
    await fails('add_app', { ...kHello, latency_slo_micros: 3_600_000_001 }, 400, 'CLP_ERR_INVALID_ARG');
    await ok('add_app', { ...kHello, latency_slo_micros: 1000 });
  });

  it('accepts the selection policies with valid parameters and the two overload responses', async () => {
    assert.match(await fails('add_app', { ...kHello, selection_policy: 'exp5' }, 400, 'CLP_ERR_INVALID_ARG'), /"policy" must be one of/);
    assert.match(
      await fails('add_app', { ...kHello, selection_policy: 'exp4', policy_params: { confidenceMin: 2 } }, 400, 'CLP_ERR_INVALID_ARG'),
      /"confidenceMin" must be a number in \[0, 1\]/,
    );
    assert.match(
      await fails('add_app', { ...kHello, selection_policy: 'exp3', policy_params: [1] }, 400, 'CLP_ERR_INVALID_ARG'),
      /"params" must be a JSON object/,
    );
    assert.match(await fails('add_app', { ...kHello, overload_response: 'drop' }, 400, 'CLP_ERR_INVALID_ARG'), /overload_response/);
    await ok('add_app', { ...kHello, selection_policy: 'default', overload_response: 'status_429' });
    assert.equal(ctx.snapshot().apps.get('hello')?.overload_response, 'status_429');
  });

  it('delete_app removes the app, and the name can be reused', async () => {
    await ok('add_app', kHello);
    assert.equal(await ok('delete_app', { name: 'hello' }), "Successfully deleted application with name 'hello'");
    assert.equal(ctx.snapshot().apps.has('hello'), false);
    assert.equal(await fails('delete_app', { name: 'hello' }, 400, 'CLP_ERR_NOT_FOUND'), "Application 'hello' does not exist");
    await ok('add_app', { ...kHello, input_type: 'strings' });
    assert.equal(ctx.snapshot().apps.get('hello')?.input_type, 'strings');
  });
});

describe('add_model', () => {
  it('accepts the clipper_admin body, then makes the version current', async () => {
    assert.equal(await ok('add_model', kSum), "Successfully added model with name 'sum' and input type 'doubles'");
    const record = ctx.snapshot().models.get('sum:1');
    assert.deepEqual(record, {
      model_name: 'sum',
      model_version: '1',
      input_type: 'doubles',
      labels: [],
      container_name: 'NO_CONTAINER',
      model_data_path: 'DEPRECATED',
      batch_size: -1,
      container: null,
      num_replicas: 0,
      cache_enabled: true,
    });
    assert.equal(current('sum'), '1');
    assert.deepEqual(ctx.deployCalls, [{ name: 'sum', version: '1', numReplicas: 0 }]);
  });

  it('refuses an image (container_name) a local cluster cannot run, saying how to make it runnable', async () => {
    const cause = await fails('add_model', { ...kSum, container_name: 'sum-model:1' }, 400, 'CLP_ERR_INVALID_ARG');
    assert.match(cause, /names the image 'sum-model:1' \(container_name\), but this cluster runs replicas as local processes/);
    assert.match(cause, /--containers docker/);
    assert.equal(ctx.snapshot().models.size, 0);
    // Registering it without replicas (metadata only) stays possible when asked for explicitly.
    await ok('add_model', { ...kSum, container_name: 'sum-model:1', num_replicas: 0 });
    assert.equal(ctx.snapshot().models.get('sum:1')?.container, null);
  });

  it('takes aliases and rejects an invalid input_type without deploying', async () => {
    await ok('add_model', { ...kSum, input_type: 'str' });
    assert.equal(ctx.snapshot().models.get('sum:1')?.input_type, 'strings');
    await fails('add_model', { ...kSum, model_version: '2', input_type: 'nope' }, 400, 'CLP_ERR_INVALID_ARG');
    assert.equal(ctx.snapshot().models.has('sum:2'), false);
    assert.equal(ctx.deployCalls.length, 1);
  });

  it('checks batch_size, defaulting it to -1', async () => {
    for (const batchSize of [0, -2]) {
      assert.equal(
        await fails('add_model', { ...kSum, batch_size: batchSize }, 400, 'CLP_ERR_INVALID_ARG'),
        'The batch size must be positive or DEFAULT_BATCH_SIZE, which is -1',
      );
    }
    const { batch_size: _, ...noBatch } = kSum;
    await ok('add_model', noBatch);
    assert.equal(ctx.snapshot().models.get('sum:1')?.batch_size, -1);
    await ok('add_model', { ...kSum, model_version: '2', batch_size: 8 });
    assert.equal(ctx.snapshot().models.get('sum:2')?.batch_size, 8);
  });

  it('validates names, versions and labels', async () => {
    await fails('add_model', { ...kSum, model_name: 'Sum' }, 400, 'CLP_ERR_INVALID_ARG');
    await fails('add_model', { ...kSum, model_name: 'a:b' }, 400, 'CLP_ERR_INVALID_ARG');
    for (const version of ['1,2', 'v1:2', '', '.1', 'x'.repeat(65)]) {
      assert.match(await fails('add_model', { ...kSum, model_version: version }, 400, 'CLP_ERR_INVALID_ARG'), /Invalid model version/);
    }
    assert.equal(
      await fails('add_model', { ...kSum, labels: ['ok', 'a,b'] }, 400, 'CLP_ERR_INVALID_ARG'),
      "Invalid label supplied: a,b. Contains one of: ',', ':'",
    );
    await fails('add_model', { ...kSum, labels: 'a' }, 400, 'CLP_ERR_JSON_SCHEMA');
    await fails('add_model', { ...kSum, labels: [1] }, 400, 'CLP_ERR_JSON_SCHEMA');
    await ok('add_model', { ...kSum, model_version: '1.0.0-rc_1', labels: ['a', 'b'] });
    assert.deepEqual(ctx.snapshot().models.get('sum:1.0.0-rc_1')?.labels, ['a', 'b']);
    assert.equal(ctx.snapshot().models.size, 1);
  });

  it('refuses a duplicate version', async () => {
    await ok('add_model', kSum);
    assert.equal(await fails('add_model', kSum, 400, 'CLP_ERR_CONFLICT'), "model with name 'sum' and version '1' already exists");
  });

  it('stores a container spec and gives it the default replica count', async () => {
    const container = { ...kNodeContainer, function: 'predict', options: { isolate: 'inline' } };
    await ok('add_model', { ...kSum, container_name: undefined, container });
    const record = ctx.snapshot().models.get('sum:1');
    assert.deepEqual(record?.container, container);
    assert.equal(record?.num_replicas, 2);
    assert.equal(record?.container_name, `node:${kSumEntry}`);
    await ok('add_model', { ...kSum, model_version: '2', container: kNodeContainer, num_replicas: 0 });
    assert.equal(ctx.snapshot().models.get('sum:2')?.num_replicas, 0);
  });

  it('validates the container spec and num_replicas', async () => {
    const bad: [unknown, RegExp][] = [
      [{ runtime: 'ruby', entry: 'x.rb' }, /container\.runtime must be 'node' or 'python'/],
      [{ runtime: 'node' }, /container\.entry/],
      [{ runtime: 'node', entry: '' }, /container\.entry/],
      [{ ...kNodeContainer, image: 'x' }, /container\.image needs "manager": "docker"/],
      [{ ...kNodeContainer, cpus: 1 }, /container\.cpus needs "manager": "docker"/],
      [{ ...kNodeContainer, colour: 'red' }, /container\.colour is not a known field/],
      [{ ...kNodeContainer, manager: 'k8s' }, /container\.manager must be 'local', 'docker' or 'kubernetes'/],
      [{ manager: 'docker' }, /container\.runtime must be 'node' or 'python' \(got nothing\), or give container\.image/],
      [{ manager: 'docker', image: 'Bad Image!' }, /container\.image must be a Docker image reference/],
      [{ ...kNodeContainer, manager: 'docker', pkgs_to_install: ['python3-six'] }, /pkgs_to_install installs Debian packages for python/],
      [{ manager: 'docker', runtime: 'python', entry: 'm.py', pkgs_to_install: ['bad name'] }, /"bad name" is not a Debian package name/],
      [{ ...kNodeContainer, manager: 'docker', cpus: 0 }, /container\.cpus must be a number of cores/],
      [{ ...kNodeContainer, manager: 'docker', memory_mb: 1.5 }, /container\.memory_mb must be an integer/],
      [{ ...kNodeContainer, options: { a: { b: 1 } } }, /container\.options\.a/],
      // Runtime options: an allowlist of names and values, so no flag or shell word is smuggled in.
      [{ ...kNodeContainer, options: { model: '/etc/passwd' } }, /container\.options\.model is not a runtime option/],
      [
        { ...kNodeContainer, options: { isolate: 'inline --model=/tmp/x.mjs' } },
        /container\.options\.isolate must be 'thread' or 'inline'/,
      ],
      // Model files: inside a model directory, after resolving '..' and symlinks.
      [{ runtime: 'node', entry: '/etc/passwd' }, /container\.entry "\/etc\/passwd" is not inside a model directory/],
      // `..` up and out (to /etc: the checkout itself may lie under os.tmpdir(), one of the test's model dirs)
      [{ runtime: 'node', entry: `${kFixtureModels}${'/..'.repeat(24)}/etc/passwd` }, /is not inside a model directory.*modelDirs option/],
      [{ runtime: 'node', entry: path.join(kFixtureModels, 'no_such_model.mjs') }, /does not exist/],
      [{ manager: 'docker', runtime: 'node', folder: '/etc', entry: 'passwd' }, /container\.folder "\/etc" is not inside/],
      [{ ...kNodeContainer, function: 'not an id' }, /container\.function/],
      ['node', /container must be an object/],
    ];
    for (const [container, pattern] of bad) {
      assert.match(await fails('add_model', { ...kSum, container }, 400, 'CLP_ERR_INVALID_ARG'), pattern);
    }
    for (const n of [-1, 65]) {
      assert.match(
        await fails('add_model', { ...kSum, container: kNodeContainer, num_replicas: n }, 400, 'CLP_ERR_INVALID_ARG'),
        /num_replicas must be an integer in \[0, 64\]/,
      );
    }
    assert.match(await fails('add_model', { ...kSum, num_replicas: 1 }, 400, 'CLP_ERR_INVALID_ARG'), /has no container spec/);
    assert.equal(ctx.snapshot().models.size, 0);
    assert.equal(ctx.deployCalls.length, 0);
  });

  it('stores a Docker spec as given; on a Docker cluster, container_name alone is the image to run', async () => {
    const docker = { manager: 'docker', runtime: 'python', entry: kPyEntry, pkgs_to_install: ['python3-six'], cpus: 0.5, memory_mb: 256 };
    await ok('add_model', { ...kSum, container: docker });
    assert.deepEqual(ctx.snapshot().models.get('sum:1')?.container, docker);
    await ok('add_model', {
      ...kSum,
      model_version: '2',
      container_name: undefined,
      container: { manager: 'docker', image: 'reg.local:5000/sum:2' },
    });
    assert.equal(ctx.snapshot().models.get('sum:2')?.container_name, 'reg.local:5000/sum:2');
    // A local cluster keeps Clipper's container_name as a label (no replicas).
    await ok('add_model', { ...kSum, model_version: '3' });
    assert.equal(ctx.snapshot().models.get('sum:3')?.container, null);

    const dockerCtx = await FakeAdminContext.create(undefined, { numReplicas: 1, containers: 'docker' });
    const dockerService = new AdminService(dockerCtx);
    const reply = await dockerService.handle('add_model', { ...kSum, container_name: 'sum-model:1' });
    assert.equal(reply.status, 200, reply.body);
    const record = dockerCtx.snapshot().models.get('sum:1');
    assert.deepEqual(record?.container, { image: 'sum-model:1' });
    assert.equal(record?.num_replicas, 1);
    // On a Docker cluster a spec without "manager" may use the Docker fields.
    const built = await dockerService.handle('add_model', { ...kSum, model_version: '2', container: { ...kNodeContainer, cpus: 2 } });
    assert.equal(built.status, 200, built.body);
    dockerCtx.close();
  });

  it('rolls back when the replicas cannot start, keeping the previous version current', async () => {
    await ok('add_model', kSum);
    ctx.deploy = async () => {
      throw new ClipperError('CLP_ERR_DEPLOY_FAILED', 'process exited with code 1: SyntaxError');
    };
    const cause = await fails('add_model', { ...kSum, model_version: '2', container: kNodeContainer }, 400, 'CLP_ERR_DEPLOY_FAILED');
    assert.match(cause, /process exited with code 1: SyntaxError/);
    assert.equal(ctx.snapshot().models.has('sum:2'), false);
    assert.equal(current('sum'), '1');
    ctx.deploy = async () => {};
    await ok('add_model', { ...kSum, model_version: '2', container: kNodeContainer });
    assert.equal(current('sum'), '2');
  });

  it('switches the current version only once the replicas have started', async () => {
    await ok('add_model', kSum);
    const gate = deferred();
    ctx.deploy = () => gate.promise;
    const pending = call('add_model', { ...kSum, model_version: '2', container: kNodeContainer });
    // Its files are checked (file system calls) before the record is written.
    while (!ctx.snapshot().models.has('sum:2')) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(current('sum'), '1');
    assert.equal(
      ((await okJson('get_model', { model_name: 'sum', model_version: '2' })) as { is_current_version: boolean }).is_current_version,
      false,
    );
    assert.equal(
      await fails('add_model', { ...kSum, model_version: '2' }, 400, 'CLP_ERR_CONFLICT'),
      "model with name 'sum' and version '2' already exists",
    );
    gate.resolve();
    assert.equal((await pending).status, 200);
    assert.equal(current('sum'), '2');
  });

  it('reports a version deleted while its replicas were starting', async () => {
    const gate = deferred();
    ctx.deploy = () => gate.promise;
    const pending = call('add_model', kSum);
    await new Promise((resolve) => setImmediate(resolve));
    await ok('delete_versioned_model', { model_name: 'sum', model_version: '1' });
    gate.resolve();
    const reply = await pending;
    assert.equal(reply.status, 400);
    assert.match(reply.body, /was deleted while its replicas were starting/);
    assert.equal(current('sum'), undefined);
  });

  it('keeps the input type of apps the model is linked to', async () => {
    await ok('add_app', kHello);
    await ok('add_model', kSum);
    await ok('add_model_links', { app_name: 'hello', model_names: ['sum'] });
    assert.equal(
      await fails('add_model', { ...kSum, model_version: '2', input_type: 'strings' }, 400, 'CLP_ERR_CONFLICT'),
      "Model with name 'sum' is already linked to app 'hello' using input type 'doubles'. The input type you provided " +
        "for a new version of the model, 'strings', is not compatible.",
    );
    await ok('add_model', { ...kSum, model_name: 'other', input_type: 'strings' });
  });
});

describe('model links', () => {
  beforeEach(async () => {
    await ok('add_app', kHello);
    await ok('add_model', kSum);
  });

  it('links, lists and unlinks', async () => {
    assert.equal(
      await ok('add_model_links', { app_name: 'hello', model_names: ['sum'] }),
      "Successfully linked model with name 'sum' to application 'hello'",
    );
    assert.deepEqual(await okJson('get_linked_models', { app_name: 'hello' }), ['sum']);
    assert.equal(await ok('delete_model_links', { app_name: 'hello', model_names: ['sum'] }), 'Success!');
    assert.deepEqual(await okJson('get_linked_models', { app_name: 'hello' }), []);
  });

  it('allows several models per app', async () => {
    await ok('add_model', { ...kSum, model_name: 'prod' });
    await ok('add_model', { ...kSum, model_name: 'mean' });
    await ok('add_model_links', { app_name: 'hello', model_names: ['sum'] });
    assert.equal(
      await ok('add_model_links', { app_name: 'hello', model_names: ['prod', 'mean'] }),
      "Successfully linked models with names 'prod', 'mean' to application 'hello'",
    );
    assert.deepEqual(ctx.snapshot().apps.get('hello')?.linked_models, ['sum', 'prod', 'mean']);
  });

  it("applies Clipper's link checks and links nothing when one fails", async () => {
    await ok('add_model', { ...kSum, model_name: 'words', input_type: 'strings' });
    assert.equal(
      await fails('add_model_links', { app_name: 'nope', model_names: ['sum'] }, 400, 'CLP_ERR_NOT_FOUND'),
      "No app with name 'nope' exists.",
    );
    assert.equal(
      await fails('add_model_links', { app_name: 'hello', model_names: [] }, 400, 'CLP_ERR_INVALID_ARG'),
      "Please provide the name of the model that you want to link to the application 'hello'",
    );
    assert.equal(
      await fails('add_model_links', { app_name: 'hello', model_names: ['sum', 'ghost'] }, 400, 'CLP_ERR_NOT_FOUND'),
      "No model with name 'ghost' exists.",
    );
    assert.equal(
      await fails('add_model_links', { app_name: 'hello', model_names: ['words'] }, 400, 'CLP_ERR_CONFLICT'),
      "Model with name 'words' has incompatible input_type 'strings'. Requested app to link to has input_type 'doubles'.",
    );
    await fails('add_model_links', { app_name: 'hello', model_names: ['sum', 'sum'] }, 400, 'CLP_ERR_INVALID_ARG');
    assert.deepEqual(ctx.snapshot().apps.get('hello')?.linked_models, []);
    await ok('add_model_links', { app_name: 'hello', model_names: ['sum'] });
    assert.equal(
      await fails('add_model_links', { app_name: 'hello', model_names: ['sum'] }, 400, 'CLP_ERR_CONFLICT'),
      "The model with name 'sum' is already linked to 'hello'",
    );
  });

  it('does not link a model whose first version is still starting', async () => {
    const gate = deferred();
    ctx.deploy = () => gate.promise;
    const pending = call('add_model', { ...kSum, model_name: 'slow' });
    await new Promise((resolve) => setImmediate(resolve));
    await fails('add_model_links', { app_name: 'hello', model_names: ['slow'] }, 400, 'CLP_ERR_NOT_FOUND');
    gate.resolve();
    await pending;
    await ok('add_model_links', { app_name: 'hello', model_names: ['slow'] });
  });

  it("unlink and get_linked_models errors use Clipper's text", async () => {
    assert.equal(
      await fails('delete_model_links', { app_name: 'nope', model_names: ['sum'] }, 400, 'CLP_ERR_NOT_FOUND'),
      'No app with name nope exists.',
    );
    assert.equal(
      await fails('delete_model_links', { app_name: 'hello', model_names: ['sum'] }, 400, 'CLP_ERR_NOT_FOUND'),
      'Cannot remove nonexistent link between app hello and model sum',
    );
    assert.equal(
      await fails('get_linked_models', { app_name: 'nope' }, 400, 'CLP_ERR_NOT_FOUND'),
      "No application with name 'nope' exists.",
    );
  });
});

describe('versions', () => {
  beforeEach(async () => {
    await ok('add_app', kHello);
    await ok('add_model', kSum);
    await ok('add_model', { ...kSum, model_version: '2' });
  });

  it("set_model_version rolls back after the target's replicas are up", async () => {
    assert.equal(current('sum'), '2');
    ctx.deployCalls.length = 0;
    assert.equal(
      await ok('set_model_version', { model_name: 'sum', model_version: '1' }),
      "Successfully set model with name 'sum' to version '1'",
    );
    assert.equal(current('sum'), '1');
    assert.deepEqual(
      ctx.deployCalls.map((c) => c.version),
      ['1'],
    );
  });

  it('set_model_version errors', async () => {
    assert.equal(
      await fails('set_model_version', { model_name: 'ghost', model_version: '1' }, 400, 'CLP_ERR_NOT_FOUND'),
      "Cannot set version for nonexistent model 'ghost'",
    );
    assert.equal(
      await fails('set_model_version', { model_name: 'sum', model_version: '9' }, 400, 'CLP_ERR_NOT_FOUND'),
      "Cannot set non-existent version '9' for model with name 'sum'",
    );
    ctx.deploy = async () => {
      throw new Error('port in use');
    };
    assert.match(await fails('set_model_version', { model_name: 'sum', model_version: '1' }, 400, 'CLP_ERR_DEPLOY_FAILED'), /port in use/);
    assert.equal(current('sum'), '2');
  });

  it("set_model_version keeps linked apps' input type", async () => {
    await ok('add_model', { ...kSum, model_version: '3', input_type: 'strings' }); // not linked yet: allowed
    await ok('set_model_version', { model_name: 'sum', model_version: '2' });
    await ok('add_model_links', { app_name: 'hello', model_names: ['sum'] });
    await fails('set_model_version', { model_name: 'sum', model_version: '3' }, 400, 'CLP_ERR_CONFLICT');
    assert.equal(current('sum'), '2');
  });

  it('delete_versioned_model deletes a non-current version', async () => {
    assert.equal(
      await ok('delete_versioned_model', { model_name: 'sum', model_version: '1' }),
      "Successfully deleted model with name 'sum' and version '1'",
    );
    assert.equal(ctx.snapshot().models.has('sum:1'), false);
    assert.equal(current('sum'), '2');
    assert.equal(
      await fails('delete_versioned_model', { model_name: 'sum', model_version: '1' }, 400, 'CLP_ERR_NOT_FOUND'),
      "model with name 'sum' and version '1' does not exist",
    );
  });

  it("delete_versioned_model deletes a linked model's current version, as Clipper's stop_* calls need", async () => {
    await ok('add_model_links', { app_name: 'hello', model_names: ['sum'] });
    // clipper_admin's stop_models / stop_all_model_containers delete every version in turn.
    for (const version of ['2', '1']) {
      assert.equal(
        await ok('delete_versioned_model', { model_name: 'sum', model_version: version }),
        `Successfully deleted model with name 'sum' and version '${version}'`,
      );
    }
    assert.equal(ctx.snapshot().models.size, 0);
    assert.equal(current('sum'), undefined, 'no dangling current-version pointer');
    assert.deepEqual(ctx.snapshot().apps.get('hello')?.linked_models, ['sum'], 'the link stays, as in Clipper');
  });

  it('delete_versioned_model of an unlinked current version clears the pointer', async () => {
    await ok('delete_versioned_model', { model_name: 'sum', model_version: '2' });
    assert.equal(current('sum'), undefined);
    const models = (await okJson('get_all_models', { verbose: true })) as { is_current_version: boolean }[];
    assert.deepEqual(
      models.map((m) => m.is_current_version),
      [false],
    );
    assert.equal(
      await fails('add_model_links', { app_name: 'hello', model_names: ['sum'] }, 400, 'CLP_ERR_NOT_FOUND'),
      "No model with name 'sum' exists.",
    );
  });
});

describe('set_num_replicas', () => {
  it('scales a version and waits for its replicas', async () => {
    await ok('add_model', { ...kSum, container: kNodeContainer });
    ctx.deployCalls.length = 0;
    assert.equal(
      await ok('set_num_replicas', { model_name: 'sum', model_version: '1', num_replicas: 5 }),
      "Successfully set the number of replicas of model 'sum' version '1' to 5",
    );
    assert.equal(ctx.snapshot().models.get('sum:1')?.num_replicas, 5);
    assert.deepEqual(ctx.deployCalls, [{ name: 'sum', version: '1', numReplicas: 5 }]);
  });

  it('restores the previous count when the new replicas cannot start', async () => {
    await ok('add_model', { ...kSum, container: kNodeContainer, num_replicas: 1 });
    ctx.deploy = async () => {
      throw new Error('out of ports');
    };
    assert.match(
      await fails('set_num_replicas', { model_name: 'sum', model_version: '1', num_replicas: 3 }, 400, 'CLP_ERR_DEPLOY_FAILED'),
      /out of ports/,
    );
    assert.equal(ctx.snapshot().models.get('sum:1')?.num_replicas, 1);
  });

  it('errors', async () => {
    await ok('add_model', kSum);
    assert.equal(
      await fails('set_num_replicas', { model_name: 'sum', model_version: '1', num_replicas: 2 }, 400, 'CLP_ERR_INVALID_ARG'),
      'Cannot resize the replica set for containerless model sum:1',
    );
    await ok('set_num_replicas', { model_name: 'sum', model_version: '1', num_replicas: 0 });
    await fails('set_num_replicas', { model_name: 'sum', model_version: '7', num_replicas: 1 }, 400, 'CLP_ERR_NOT_FOUND');
    await fails('set_num_replicas', { model_name: 'sum', model_version: '1', num_replicas: 65 }, 400, 'CLP_ERR_INVALID_ARG');
    await fails('set_num_replicas', { model_name: 'sum', model_version: '1' }, 400, 'CLP_ERR_JSON_SCHEMA');
  });
});

describe('getters', () => {
  beforeEach(async () => {
    await ok('add_app', kHello);
    await ok('add_model', { ...kSum, labels: ['a'], container: kNodeContainer });
    await ok('add_model', { ...kSum, model_version: '2' });
    await ok('add_model_links', { app_name: 'hello', model_names: ['sum'] });
  });

  it("get_all_applications and get_application have Clipper's shapes", async () => {
    assert.deepEqual(await okJson('get_all_applications', { verbose: false }), ['hello']);
    assert.deepEqual(await okJson('get_all_applications', {}), ['hello']);
    const verbose = (await okJson('get_all_applications', { verbose: true })) as Record<string, unknown>[];
    assert.deepEqual(verbose, [
      {
        name: 'hello',
        input_type: 'doubles',
        default_output: '-1.0',
        latency_slo_micros: 100000,
        linked_models: ['sum'],
        selection_policy: 'default',
        overload_response: 'default_output',
      },
    ]);
    assert.deepEqual(await okJson('get_application', { name: 'hello' }), verbose[0]);
    assert.deepEqual(await okJson('get_application', { name: 'nope' }), {});
    await fails('get_all_applications', { verbose: 'yes' }, 400, 'CLP_ERR_JSON_SCHEMA');
  });

  it('get_all_models and get_model mark the current version', async () => {
    assert.deepEqual(await okJson('get_all_models', { verbose: false }), ['sum:1', 'sum:2']);
    const verbose = (await okJson('get_all_models', { verbose: true })) as Record<string, unknown>[];
    assert.deepEqual(
      verbose.map((m) => [m.model_version, m.is_current_version]),
      [
        ['1', false],
        ['2', true],
      ],
    );
    assert.deepEqual(await okJson('get_model', { model_name: 'sum', model_version: '1' }), {
      model_name: 'sum',
      model_version: '1',
      input_type: 'doubles',
      labels: ['a'],
      container_name: 'NO_CONTAINER',
      model_data_path: 'DEPRECATED',
      is_current_version: false,
      batch_size: -1,
      num_replicas: 2,
      cache_enabled: true,
      container: kNodeContainer,
    });
    assert.deepEqual(await okJson('get_model', { model_name: 'sum', model_version: '3' }), {});
  });

  it('get_all_containers and get_container list replicas', async () => {
    ctx.disconnected.add('sum:1:1');
    assert.deepEqual(await okJson('get_all_containers', { verbose: false }), ['sum:1:0', 'sum:1:1']);
    const verbose = (await okJson('get_all_containers', { verbose: true })) as Record<string, unknown>[];
    assert.deepEqual(
      verbose.map((c) => [c.model_id, c.model_replica_id, c.input_type, c.connected, c.state]),
      [
        ['sum:1', 0, 'doubles', true, 'running'],
        ['sum:1', 1, 'doubles', false, 'running'],
      ],
    );
    const one = (await okJson('get_container', { model_name: 'sum', model_version: '1', replica_id: 1 })) as Record<string, unknown>;
    assert.deepEqual(one, verbose[1]);
    assert.equal(typeof one.pid, 'number');
    assert.deepEqual(await okJson('get_container', { model_name: 'sum', model_version: '1', replica_id: 2 }), {});
    await fails('get_container', { model_name: 'sum', model_version: '1', replica_id: '1' }, 400, 'CLP_ERR_JSON_SCHEMA');
  });

  it('get_state returns the raw default output', async () => {
    const reply = await call('get_state', { app_name: 'hello', uid: 0 });
    assert.deepEqual(reply, { status: 200, contentType: 'text/plain; charset=utf-8', body: '-1.0' });
    assert.equal(await ok('get_state', { app_name: 'nope', uid: 3 }), '');
  });
});

describe('routing and the store', () => {
  it('answers 404 for unknown routes, including prototype names', async () => {
    for (const route of ['add_container', 'metrics', '__proto__', 'constructor', 'toString', '']) {
      await fails(route, {}, 404, 'CLP_ERR_ROUTE_NOT_FOUND');
    }
  });

  it('refuses changes with 503 while the store is not writable, and still answers reads', async () => {
    const store = new ControlledStore();
    ctx = await FakeAdminContext.create(store);
    service = new AdminService(ctx);
    await ok('add_app', kHello);
    store.writable = false;
    await fails('add_app', { ...kHello, name: 'other' }, 503, 'CLP_ERR_STATE_UNAVAILABLE');
    await fails('delete_app', { name: 'hello' }, 503, 'CLP_ERR_STATE_UNAVAILABLE');
    assert.deepEqual(await okJson('get_all_applications', { verbose: false }), ['hello']);
    store.writable = true;
    store.failWrites = 'connection reset';
    assert.equal(
      await fails('add_app', { ...kHello, name: 'other' }, 503, 'CLP_ERR_STATE_UNAVAILABLE'),
      "Error adding application 'other' in the state store: connection reset",
    );
  });

  it('serialises check-then-write: one of two identical add_app calls wins', async () => {
    const replies = await Promise.all([call('add_app', kHello), call('add_app', kHello)]);
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 400]);
  });

  it("serialises writes per AdminContext: a second AdminService (the tuner's) waits for the first one's write", async () => {
    const gate = deferred();
    let holding = false;
    /** putApp waits for the gate while `holding`: a write that is slow to land. */
    class HeldStore extends ControlledStore {
      override async putApp(app: AppRecord): Promise<void> {
        if (holding) await gate.promise;
        await super.putApp(app);
      }
    }
    const store = new HeldStore();
    ctx = await FakeAdminContext.create(store);
    service = new AdminService(ctx);
    const tuner = new AdminService(ctx);
    await ok('add_model', { ...kSum, num_replicas: 0 });
    await ok('add_app', { ...kHello, pipeline: { stages: [{ name: 'only', kind: 'model', model: 'sum' }], output: 'only' } });
    const plan = {
      seed: 1,
      workload: { kind: 'poisson', rate_qps: 10 },
      slo_micros: 100_000,
      models: [
        { model: 'sum', version: '1', batch_size: 4, replicas: 1, latency_us: [[1, 800]], visit_fraction: 1, capacity_qps_per_replica: 50 },
      ],
      stage_budgets_micros: { only: 100_000 },
      predicted: { p99_micros: 9000, p50_micros: 2000, throughput_qps: 10, replicas: 1, slo_miss_ratio: 0 },
      envelope_qps: [7, 11.5],
      replicas_max: 4,
      reactive: true,
    };
    holding = true;
    const storing = tuner.handle('set_pipeline_plan', { name: 'hello', plan }); // read the app, then hold its write
    const deleting = call('delete_app', { name: 'hello' });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.ok(ctx.snapshot().apps.has('hello'), 'the delete waits for the held write of the other service');
    holding = false;
    gate.resolve();
    assert.equal((await storing).status, 200);
    assert.equal((await deleting).status, 200);
    assert.equal(ctx.snapshot().apps.has('hello'), false, "the tuner's write did not bring the deleted app back");
  });

  it('runs the worked example of spec §2 unchanged', async () => {
    await ok('add_app', kHello);
    await ok('add_model', kSum);
    assert.equal(
      await ok('add_model_links', { app_name: 'hello', model_names: ['sum'] }),
      "Successfully linked model with name 'sum' to application 'hello'",
    );
    assert.deepEqual(ctx.snapshot().apps.get('hello')?.linked_models, ['sum']);
  });
});
