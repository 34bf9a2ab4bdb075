// Declared Open Inference Protocol tensors through the management API over real HTTP: add_model
// stores them on the model record, get_model shows them, a bad one is a 400 naming the field, and
// the TypeScript client passes them through.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startAdminServer, type AdminServer } from '../../src/admin/admin_server.js';
import { ClipperClientError, ClipperConnection } from '../../src/client/admin_client.js';
import { modelKey } from '../../src/state/records.js';
import { FakeAdminContext } from '../helpers/fake_admin_context.js';

let ctx: FakeAdminContext;
let server: AdminServer;
let client: ClipperConnection;

before(async () => {
  ctx = await FakeAdminContext.create();
  server = await startAdminServer(ctx, { host: '127.0.0.1', port: 0, bodyBytesMax: 1 << 20 });
  client = new ClipperConnection({ adminUrl: `http://127.0.0.1:${server.port}`, timeoutMs: 10_000 });
});
after(() => server.close());

test('declared inputs and outputs are stored, shown by get_model, and passed through by the client', async () => {
  const inputs = [{ name: 'features', datatype: 'FP64' as const, shape: [-1, 100] }];
  const outputs = [{ name: 'score', datatype: 'FP64' as const, shape: [-1] }];
  await client.deployModel({ name: 'declared', version: 1, inputType: 'doubles', numReplicas: 0, inputs, outputs });
  const record = ctx.snapshot().models.get(modelKey('declared', '1'));
  assert.deepEqual(record?.inputs, inputs);
  assert.deepEqual(record?.outputs, outputs);
  const info = await client.getModelInfo('declared', 1);
  assert.deepEqual(info?.inputs, inputs);
  assert.deepEqual(info?.outputs, outputs);

  await client.deployModel({ name: 'plain', version: 1, inputType: 'doubles', numReplicas: 0 });
  const plain = await client.getModelInfo('plain', 1);
  assert.equal(plain?.inputs, undefined, 'nothing declared: nothing stored (the metadata infers it)');
  assert.equal(ctx.snapshot().models.get(modelKey('plain', '1'))?.inputs, undefined);
});

test('a bad declaration is a 400 naming the field, and nothing is stored', async () => {
  await assert.rejects(
    client.deployModel({
      name: 'bad',
      version: 1,
      inputType: 'strings',
      numReplicas: 0,
      inputs: [{ name: 'text', datatype: 'FP32', shape: [-1] }],
    }),
    (err: unknown) =>
      err instanceof ClipperClientError &&
      err.status === 400 &&
      /inputs\[0\]\.datatype FP32 cannot feed a model whose input_type is strings/.test(err.cause),
  );
  await assert.rejects(
    client.deployModel({
      name: 'bad',
      version: 1,
      inputType: 'doubles',
      numReplicas: 0,
      // biome-ignore lint/suspicious/noExplicitAny: a wrong shape on purpose, as a client in another language could send
      outputs: [{ name: 'y', datatype: 'FP64', shape: [-1, -7] as any }],
    }),
    (err: unknown) =>
      err instanceof ClipperClientError && err.status === 400 && /outputs\[0\]\.shape\[1\] must be an integer >= -1/.test(err.cause),
  );
  assert.equal(ctx.snapshot().models.has(modelKey('bad', '1')), false);
});
