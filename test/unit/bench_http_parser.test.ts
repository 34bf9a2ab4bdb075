import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseParser, readContentLength } from '../../tools/loadgen/http_client.js';
import { bodyIsDefault, requestBody, textIsDefault, defaultPath } from '../../tools/loadgen/transport.js';
import { readMessageId } from '../../tools/loadgen/ws_client.js';
import { fixedInput, parseInputSpec, randomInputs } from '../../tools/loadgen/inputs.js';
import { parseArgs, parseLevels, targetSeed } from '../../tools/loadgen/args.js';
import { makeTarget } from '../../tools/loadgen/main.js';

const response = (status: string, body: string, extra = ''): string =>
  `HTTP/1.1 ${status}\r\nDate: x\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('parser handles pipelined responses split at every byte boundary', () => {
  const wire = Buffer.from(
    response('200 OK', '{"output":1,"default":true}') +
      response('503 Service Unavailable', '{"error":"x"}') +
      response('200 OK', '{"output":2,"default": false}', 'content-length-x: 9\r\n'),
  );
  for (let cut = 1; cut < wire.length; cut++) {
    const got: [number, boolean][] = [];
    const p = new ResponseParser();
    p.feed(wire.subarray(0, cut), (s, d) => got.push([s, d]));
    p.feed(wire.subarray(cut), (s, d) => got.push([s, d]));
    assert.deepEqual(
      got,
      [
        [200, true],
        [503, false],
        [200, false],
      ],
      `cut at ${cut}`,
    );
  }
});

test('parser reads lower-case content-length and rejects chunked responses clearly', () => {
  const got: number[] = [];
  new ResponseParser().feed(Buffer.from('HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok'), (s) => got.push(s));
  assert.deepEqual(got, [201]);
  const chunked = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
  assert.throws(() => new ResponseParser().feed(chunked, () => {}), /chunked_unsupported/);
  assert.throws(() => new ResponseParser().feed(Buffer.from('garbage\r\n\r\n'), () => {}), /parse_error/);
  const buf = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length:  17\r\n\r\n');
  assert.equal(readContentLength(buf, 0, buf.indexOf('\r\n\r\n')), 17);
});

test('default detection by substring', () => {
  assert.equal(bodyIsDefault(Buffer.from('{"default":true}')), true);
  assert.equal(bodyIsDefault(Buffer.from('{"default": true}')), true);
  assert.equal(bodyIsDefault(Buffer.from('{"default":false}')), false);
  assert.equal(bodyIsDefault(Buffer.from('{"output":"x"}')), false);
  // only inside [start, end)
  const two = Buffer.from('{"default":false}{"default":true}');
  assert.equal(bodyIsDefault(two, 0, 17), false);
  assert.equal(bodyIsDefault(two, 17, two.length), true);
  assert.equal(textIsDefault('{"id":3,"output":1,"default":true}'), true);
  assert.equal(textIsDefault('{"id":3,"default":false}'), false);
  assert.equal(readMessageId('{"id":123,"output":1}'), 123);
  assert.equal(readMessageId('{"id": 7}'), 7);
  assert.equal(readMessageId('{"output":1}'), -1);
});

test('request shapes: Clipper and Open Inference Protocol V2', () => {
  const item = fixedInput('[1.5,2,3]').next();
  assert.deepEqual(JSON.parse(requestBody('clipper', item)), { input: [1.5, 2, 3] });
  assert.deepEqual(JSON.parse(requestBody('v2', item)), {
    inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP64', data: [1.5, 2, 3] }],
  });
  assert.equal(defaultPath('clipper', 'app1'), '/app1/predict');
  assert.equal(defaultPath('v2', 'm'), '/v2/models/m/infer');
});

test('inputs: seeded random vectors are unique and reproducible; bad specs are rejected', () => {
  const a = randomInputs(4, 42);
  const b = randomInputs(4, 42);
  const first = a.next();
  assert.equal(first.length, 4);
  assert.equal(JSON.parse(first.json).length, 4);
  assert.equal(b.next().json, first.json);
  assert.notEqual(a.next().json, first.json);
  assert.throws(() => parseInputSpec('nope:1', 1), /--input must be/);
  assert.throws(() => parseInputSpec('fixed:{bad', 1), /not valid JSON/);
  assert.equal(parseInputSpec('fixed:{"input":[1]}', 1).next().json, '[1]');
});

test('argv: levels, ranges and per-target lists', () => {
  assert.deepEqual(parseLevels('1,8,64', '--c'), [1, 8, 64]);
  assert.deepEqual(parseLevels('1:16:x2', '--c'), [1, 2, 4, 8, 16]);
  assert.deepEqual(parseLevels('1000:3000:1000,5000', '--rate'), [1000, 2000, 3000, 5000]);
  assert.throws(() => parseLevels('0,1', '--c'), /positive/);
  assert.throws(() => parseLevels('1:5:x1', '--c'), /bad step/);
  const a = parseArgs([
    '--url',
    'http://127.0.0.1:1,http://127.0.0.1:2/custom',
    '--shape',
    'clipper,v2',
    '--app=m',
    '--mode',
    'open',
    '--rate',
    '100',
    '--poisson',
    '--slo-ms',
    '20',
  ]);
  assert.equal(a.mode, 'open');
  assert.equal(a.poisson, true);
  assert.deepEqual(a.rates, [100]);
  assert.equal(makeTarget(a, 0).transport.description, 'http://127.0.0.1:1/m/predict (clipper)');
  assert.equal(makeTarget(a, 1).transport.description, 'http://127.0.0.1:2/custom (v2)');
  const v2 = parseArgs(['--url', 'http://127.0.0.1:3', '--shape', 'v2', '--app', 'resnet']);
  assert.equal(makeTarget(v2, 0).transport.description, 'http://127.0.0.1:3/v2/models/resnet/infer (v2)');
  const ws = parseArgs(['--url', 'http://127.0.0.1:4', '--transport', 'ws']);
  assert.equal(makeTarget(ws, 0).transport.description, 'ws://127.0.0.1:4/ws (websocket)');
  // Inputs never repeat by default: a fresh seed per run, and a distinct one per target.
  assert.notEqual(parseArgs([]).seed, parseArgs([]).seed);
  assert.equal(parseArgs(['--seed', '7']).seed, 7);
  assert.notEqual(targetSeed(7, 0), targetSeed(7, 1));
  assert.throws(() => parseArgs(['--bogus']), /unknown option/);
  assert.throws(() => parseArgs(['--mode', 'half']), /--mode/);
  assert.throws(() => parseArgs(['--url', 'http://a:1,http://b:2', '--shape', 'v2,v2,v2']), /1 or 2 values/);
});
