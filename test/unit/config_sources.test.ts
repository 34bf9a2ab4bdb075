// `clipper start`'s configuration sources (src/config_sources.ts): a JSON file, CLIPPER_* environment
// variables and flags, merged by one rule (flags > environment > file > defaults), each value's
// source reported, and every refusal naming the option and the source that set it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kDefaultConfig } from '../../src/config.js';
import {
  configFromSources,
  envNameOf,
  flagNameOf,
  formatEffectiveConfig,
  kConfigOptions,
  kindOf,
  parseStartArgv,
  type ConfigSourcesInput,
} from '../../src/config_sources.js';

const kFile = '/etc/clipper.json';

function sources(argv: string[], env: Record<string, string> = {}, fileText?: string): ReturnType<typeof configFromSources> {
  const input: ConfigSourcesInput = {
    argv,
    env,
    readText: (filePath) => {
      if (fileText === undefined || filePath !== kFile) throw new Error(`ENOENT: no such file ${filePath}`);
      return fileText;
    },
  };
  return configFromSources(input);
}

test('names: CLIPPER_<OPTION_IN_UPPER_SNAKE> and --<option-in-kebab-case>', () => {
  assert.equal(envNameOf('cacheBytesMax'), 'CLIPPER_CACHE_BYTES_MAX');
  assert.equal(flagNameOf('cacheBytesMax'), 'cache-bytes-max');
  assert.equal(envNameOf('inFlightBatchesPerReplica'), 'CLIPPER_IN_FLIGHT_BATCHES_PER_REPLICA');
  assert.equal(flagNameOf('ringPollUs'), 'ring-poll-us');
  assert.equal(envNameOf('queryPort'), 'CLIPPER_QUERY_PORT');
  assert.equal(kindOf('batchWaitMs'), 'number');
  assert.equal(kindOf('queryPort'), 'integer');
  assert.equal(kindOf('containers'), 'enum');
  assert.equal(kindOf('state'), 'string');
  // Variables that mean something else elsewhere are never an option's name.
  const taken = [
    'CLIPPER_NODE_FLAGS',
    'CLIPPER_MODELS_DIR',
    'CLIPPER_PYTHON',
    'CLIPPER_TEST_CONCURRENCY',
    'CLIPPER_TEST_SEED',
    'CLIPPER_MODEL_NAME',
    'CLIPPER_MODEL_VERSION',
    'CLIPPER_INPUT_TYPE',
    'CLIPPER_REPLICA_ID',
    'CLIPPER_CLUSTER',
  ];
  const names = new Set(kConfigOptions.map(envNameOf));
  for (const name of taken) assert.ok(!names.has(name), name);
  for (const name of names) assert.ok(!name.startsWith('CLIPPER_BENCH_'), name);
});

test('no source: the defaults, each marked "default"', () => {
  const s = sources([]);
  assert.deepEqual({ ...s.config }, { ...kDefaultConfig });
  for (const option of kConfigOptions) assert.equal(s.sources[option], 'default');
  assert.equal(s.example, false);
  assert.equal(s.printConfig, false);
});

test('precedence: flags > environment > config file > defaults, per option', () => {
  const file = JSON.stringify({ queryPort: 1400, adminPort: 1401, cacheBytesMax: 0, batchSizeMax: 8 });
  const env = { CLIPPER_QUERY_PORT: '1500', CLIPPER_ADMIN_PORT: '1501', CLIPPER_RING_POLL_US: '0' };
  const s = sources(['--config', kFile, '--query-port', '1600', '--example'], env, file);
  assert.equal(s.config.queryPort, 1600);
  assert.equal(s.sources.queryPort, 'flag --query-port');
  assert.equal(s.config.adminPort, 1501);
  assert.equal(s.sources.adminPort, 'env CLIPPER_ADMIN_PORT');
  assert.equal(s.config.ringPollUs, 0);
  assert.equal(s.sources.ringPollUs, 'env CLIPPER_RING_POLL_US');
  assert.equal(s.config.cacheBytesMax, 0);
  assert.equal(s.sources.cacheBytesMax, `file ${kFile}`);
  assert.equal(s.config.batchSizeMax, 8);
  assert.equal(s.config.heartbeatMs, kDefaultConfig.heartbeatMs);
  assert.equal(s.sources.heartbeatMs, 'default');
  assert.equal(s.example, true);
  assert.equal(s.configPath, kFile);
  // The order on the command line does not matter: --config given last still loses to a flag.
  assert.equal(sources(['--cache-bytes-max', '4096', '--config', kFile], {}, file).config.cacheBytesMax, 4096);
});

test('every option has a flag and a variable, parsed by its type; aliases and --flag=value work', () => {
  const s = sources(
    [
      '--threads',
      '3',
      '--batch-wait-ms=0.25',
      '--selection-seed',
      '-5',
      '--containers',
      'docker',
      '--docker-host',
      'tcp://127.0.0.1:2375',
      '--print-config',
    ],
    { CLIPPER_SELECTION_THREAD: 'own', CLIPPER_RING_BYTES: '0x20000', CLIPPER_QUEUE_BOUND: '10_000', CLIPPER_STATE: 'redis://h:1' },
  );
  assert.equal(s.config.batchingThreads, 3);
  assert.equal(s.sources.batchingThreads, 'flag --threads');
  assert.equal(s.config.batchWaitMs, 0.25);
  assert.equal(s.config.selectionSeed, -5);
  assert.equal(s.config.containers, 'docker');
  assert.equal(s.config.dockerHost, 'tcp://127.0.0.1:2375');
  assert.equal(s.config.selectionThread, 'own');
  assert.equal(s.config.ringBytes, 131072);
  assert.equal(s.config.queueBound, 10_000);
  assert.equal(s.config.state, 'redis://h:1');
  assert.equal(s.printConfig, true);
  for (const option of kConfigOptions) {
    const value = String(kDefaultConfig[option]);
    assert.equal(sources([`--${flagNameOf(option)}`, value]).sources[option], `flag --${flagNameOf(option)}`, option);
    if (value !== '') assert.equal(sources([], { [envNameOf(option)]: value }).sources[option], `env ${envNameOf(option)}`);
  }
  assert.equal(sources(['--batching-threads', '2', '--threads', '4']).config.batchingThreads, 4, 'the last flag wins');
});

test('unknown and empty CLIPPER_* variables are ignored', () => {
  const s = sources([], {
    CLIPPER_NODE_FLAGS: 'off',
    CLIPPER_MODELS_DIR: '/x',
    CLIPPER_PYTHON: '/usr/bin/python3',
    CLIPPER_BENCH_THREADS: 'x',
    CLIPPER_TEST_CONCURRENCY: 'lots',
    CLIPPER_NO_SUCH_OPTION: 'y',
    CLIPPER_QUERY_PORT: '',
    cacheBytesMax: '0',
  });
  assert.deepEqual({ ...s.config }, { ...kDefaultConfig });
});

test('refusals name the option and the source that set it', () => {
  const refused: Array<[() => unknown, RegExp]> = [
    [() => sources(['--cache-bytes-max', 'lots']), /flag --cache-bytes-max: cacheBytesMax must be an integer \(got "lots"\)$/],
    [
      () => sources(['--cache-bytes-max', '100']),
      /config\.cacheBytesMax must be 0 \(off\) or at least 4096 \(got 100\), set by flag --cache-bytes-max/,
    ],
    [() => sources([], { CLIPPER_QUERY_PORT: '1.5' }), /env CLIPPER_QUERY_PORT: queryPort must be an integer/],
    [() => sources([], { CLIPPER_BATCH_WAIT_MS: 'soon' }), /env CLIPPER_BATCH_WAIT_MS: batchWaitMs must be a number/],
    [() => sources([], { CLIPPER_QUERY_PORT: '70000' }), /config\.queryPort .*, set by env CLIPPER_QUERY_PORT$/],
    [
      () => sources([], { CLIPPER_CONTAINERS: 'podman' }),
      /config\.containers must be 'local', 'docker' or 'kubernetes' .*, set by env CLIPPER_CONTAINERS/,
    ],
    [
      () => sources(['--config', kFile], {}, '{"ringBytes": 100000}'),
      /config\.ringBytes must be a power of two .*, set by file \/etc\/clipper\.json/,
    ],
    [() => sources(['--config', kFile], {}, '{"cacheBytesMax": "0"}'), /config\.cacheBytesMax .*, set by file/],
    [() => sources(['--config', kFile], {}, '{"cacheBytes": 0}'), /config file \/etc\/clipper\.json: unknown option 'cacheBytes'/],
    [
      () => sources(['--config', kFile], {}, '{"cache_bytes_max": 0}'),
      /unknown option 'cache_bytes_max' \(did you mean 'cacheBytesMax'\?\)/,
    ],
    [() => sources(['--config', kFile], {}, '[1]'), /config file \/etc\/clipper\.json must hold a JSON object/],
    [() => sources(['--config', kFile], {}, '{oops'), /config file \/etc\/clipper\.json is not JSON/],
    [() => sources(['--config', '/nowhere.json']), /config file \/nowhere\.json cannot be read/],
    [() => sources(['--no-such-option', '1']), /unknown option --no-such-option/],
    [() => sources(['--query-port']), /--query-port needs a value/],
    [() => sources(['stray']), /unexpected argument 'stray'/],
    [() => sources(['--example=yes']), /--example takes no value/],
  ];
  for (const [run, message] of refused) assert.throws(run, message);
});

test('parse_start_argv keeps the flags in order; --print-config output is the config and its sources', () => {
  const args = parseStartArgv(['--threads', '2', '--cache-bytes-max=0', '-h']);
  assert.deepEqual(args.flags, [
    { option: 'batchingThreads', flag: '--threads', text: '2' },
    { option: 'cacheBytesMax', flag: '--cache-bytes-max', text: '0' },
  ]);
  assert.equal(args.help, true);
  const printed = JSON.parse(formatEffectiveConfig(sources(['--cache-bytes-max', '0']))) as {
    config: Record<string, unknown>;
    sources: Record<string, string>;
  };
  assert.equal(printed.config.cacheBytesMax, 0);
  assert.equal(printed.sources.cacheBytesMax, 'flag --cache-bytes-max');
  assert.deepEqual(Object.keys(printed.config), [...kConfigOptions]);
});

test('--print-config prints no secret: the admin token as hidden, a Redis URL without its password', () => {
  const printed = JSON.parse(
    formatEffectiveConfig(sources(['--admin-token', 'a-token-of-at-least-16-chars', '--state', 'redis://user:pa55word@127.0.0.1:6379'])),
  ) as { config: Record<string, unknown> };
  assert.equal(printed.config.adminToken, '(hidden)');
  assert.equal(printed.config.state, 'redis://user:***@127.0.0.1:6379');
  assert.ok(!JSON.stringify(printed).includes('pa55word'));
  assert.ok(!JSON.stringify(printed).includes('a-token-of-at-least-16-chars'));
});
