// What the manager reads from a Pod (src/containers/kubernetes/pod_view.ts), on pods recorded from a
// real cluster (test/fixtures/kubernetes/) and variations of them: readiness, model, port, health, and
// the failure reason in the pod's own words.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { isPodReady, podFailureReason, podHealth, podModel, podPort, podRestarts } from '../../src/containers/kubernetes/pod_view.js';
import { kRepoRoot } from '../../src/paths.js';

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(kRepoRoot, 'test', 'fixtures', 'kubernetes', `${name}.json`), 'utf8')) as T;
}

const running = (): V1Pod => fixture<V1Pod>('pod_running');
const pullBackOff = (): V1Pod => fixture<V1Pod>('pod_image_pull_backoff');

test('a running pod with Ready=True and an IP is ready; terminating, IP-less or unready ones are not', () => {
  assert.equal(isPodReady(running()), true);
  assert.equal(podHealth(running()), 'healthy');
  const terminating = running();
  terminating.metadata!.deletionTimestamp = new Date('2024-06-11T10:00:00Z');
  assert.equal(isPodReady(terminating), false);
  const noIp = running();
  delete noIp.status!.podIP;
  assert.equal(isPodReady(noIp), false);
  const unready = running();
  unready.status!.conditions!.find((c) => c.type === 'Ready')!.status = 'False';
  unready.status!.containerStatuses![0]!.ready = false;
  assert.equal(isPodReady(unready), false);
  assert.equal(podHealth(unready), 'unhealthy');
  // A pod waiting for its image has an IP but is not ready.
  assert.equal(isPodReady(pullBackOff()), false);
  assert.equal(podHealth(pullBackOff()), 'starting');
  assert.equal(podHealth(fixture<V1Pod>('pod_pending')), 'starting');
});

test('the model version comes from the annotations (exact names), else the labels; the port from the container', () => {
  const pod = running();
  assert.equal(podModel(pod), null);
  pod.metadata!.labels = { ...pod.metadata!.labels, 'clipper.ai/model': 'm', 'clipper.ai/version': 'v1.0-abc12345' };
  assert.deepEqual(podModel(pod), { model: 'm', version: 'v1.0-abc12345', key: 'm:v1.0-abc12345' });
  pod.metadata!.annotations = { 'clipper.ai/model-name': 'm', 'clipper.ai/model-version': 'V1.0' };
  assert.deepEqual(podModel(pod), { model: 'm', version: 'V1.0', key: 'm:V1.0' });
  assert.equal(podPort(pod, 7000), 80);
  assert.equal(podPort({ spec: { containers: [{ name: 'model' }] } }, 7000), 7000);
  assert.equal(podRestarts(pod), 0);
});

test('an image that cannot be pulled: the waiting reason, then the Warning event that says more', () => {
  const event = fixture<CoreV1Event>('event_failed_pull');
  const reason = podFailureReason(pullBackOff(), [event]);
  assert.equal(
    reason,
    'ImagePullBackOff: Back-off pulling image "registry.example.com:5000/nosuch:1"; event Failed: Failed to pull image ' +
      '"registry.example.com:5000/nosuch:1": rpc error: code = NotFound desc = failed to pull and unpack image ' +
      '"registry.example.com:5000/nosuch:1": failed to resolve reference "registry.example.com:5000/nosuch:1": ' +
      'registry.example.com:5000/nosuch:1: not found',
  );
  // Normal events and events about other objects say nothing about this pod's failure.
  const other = { ...event, involvedObject: { ...event.involvedObject, name: 'another-pod' } };
  const normal = { ...event, type: 'Normal', message: 'Pulling image' };
  assert.equal(
    podFailureReason(pullBackOff(), [other, normal]),
    'ImagePullBackOff: Back-off pulling image "registry.example.com:5000/nosuch:1"',
  );
});

test('a crash loop shows the last termination; an unschedulable pod its condition; a repeated message once', () => {
  const crashing = running();
  crashing.status!.conditions!.find((c) => c.type === 'Ready')!.status = 'False';
  crashing.status!.containerStatuses = [
    {
      name: 'model',
      image: 'm:1',
      imageID: '',
      ready: false,
      restartCount: 4,
      state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s restarting failed container=model' } },
      lastState: { terminated: { exitCode: 1, reason: 'Error', message: 'cannot load /model/m.js' } },
    },
  ];
  assert.equal(
    podFailureReason(crashing, []),
    'CrashLoopBackOff: back-off 1m20s restarting failed container=model; last termination: Error (exit code 1): cannot load /model/m.js',
  );
  assert.equal(podRestarts(crashing), 4);
  const unschedulable = fixture<V1Pod>('pod_pending');
  unschedulable.status = {
    phase: 'Pending',
    conditions: [
      { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient cpu.' },
    ],
  };
  const events: CoreV1Event[] = [
    {
      metadata: {},
      involvedObject: { name: unschedulable.metadata!.name! },
      type: 'Warning',
      reason: 'FailedScheduling',
      message: '0/3 nodes are available: 3 Insufficient cpu.',
    },
  ];
  assert.equal(podFailureReason(unschedulable, events), 'Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.');
});

test('the newest Warning events come first, at most three', () => {
  const pod = fixture<V1Pod>('pod_pending');
  pod.status!.containerStatuses = [];
  const at = (minute: number, message: string): CoreV1Event => ({
    metadata: {},
    involvedObject: { name: pod.metadata!.name! },
    type: 'Warning',
    reason: 'BackOff',
    message,
    lastTimestamp: new Date(Date.UTC(2024, 5, 11, 9, minute)),
  });
  const reason = podFailureReason(pod, [at(1, 'one'), at(4, 'four'), at(2, 'two'), at(3, 'three')]);
  assert.equal(reason, 'event BackOff: four; event BackOff: three; event BackOff: two');
  assert.equal(podFailureReason({ metadata: { name: 'x' }, status: { phase: 'Pending' } }, []), 'phase Pending');
});
