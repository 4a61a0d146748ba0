import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadPipelineText } from '../../../workers/spec/load.js';

// What the schema check (`make k8s-check`: kubeconform, strict) cannot see: that the manifests fit
// streamscore — the ConfigMap is the pipeline, KEDA watches the group and topic the pipeline
// consumes, no more workers than partitions, probes on the health server, a grace period longer
// than the drain, secrets as files the pipeline reads.
const PIPELINES = ['churn-scoring', 'fraud-scoring', 'demand-forecast'];
/** The worker's drain on SIGTERM (workers/runtime/worker.ts, drainTimeoutMs). */
const DRAIN_S = 30;
/** The variables the example pipelines take credentials from. */
const SECRET_REF = /\$\{([A-Z0-9_]*(?:PASSWORD|TOKEN|HASH_KEY)|DATABASE_URL)(?::-[^}]*)?\}/g;

interface K8sObject {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  data?: Record<string, string>;
}
interface Container {
  args: string[];
  env: { name: string; value?: string; valueFrom?: { configMapKeyRef?: { name: string; key: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests: { cpu: string; memory: string } };
}
interface PodSpec {
  terminationGracePeriodSeconds: number;
  containers: Container[];
}

function kustomize(dir: string): K8sObject[] {
  const [cmd, ...args] = existsSync('.tools/bin/kustomize')
    ? ['.tools/bin/kustomize', 'build']
    : ['kubectl', 'kustomize'];
  const r = spawnSync(cmd!, [...args, '--load-restrictor', 'LoadRestrictionsNone', dir], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} ${dir}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
}

const rendered = kustomize('infra/k8s/examples');
const byKind = (kind: string) => rendered.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => {
  const o = rendered.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} in infra/k8s/examples`);
  return o;
};
const podSpec = (d: K8sObject) => (d.spec['template'] as { spec: PodSpec }).spec;
/** The settings ConfigMap's values, as the pods see them through configMapKeyRef. */
const settings = byKind('ConfigMap').find((c) => c.metadata.name.startsWith('streamscore-settings'))!.data!;

/** The pipeline as a pod loads it: the mounted ConfigMap, the container's env, secret files. */
function podPipeline(name: string, container: Container) {
  const config = byKind('ConfigMap').find((c) => c.metadata.name.startsWith(`pipeline-${name}-`));
  assert.ok(config, `the ConfigMap of ${name}`);
  const text = config.data!['pipeline.yaml']!;
  const env: Record<string, string> = {};
  for (const e of container.env) {
    const ref = e.valueFrom?.configMapKeyRef;
    env[e.name] = ref ? settings[ref.key]! : e.value!;
  }
  const secretFiles: string[] = [];
  const loaded = loadPipelineText(`/app/pipelines/pipeline.yaml`, text, {
    env,
    readFile: (p) => {
      secretFiles.push(p);
      return 'a-secret-value-of-at-least-32-characters';
    },
  });
  return { text, env, secretFiles, loaded };
}

describe('infra/k8s: one worker Deployment per example pipeline', () => {
  for (const name of PIPELINES) {
    it(`${name}: its ConfigMap is the pipeline file, KEDA watches its group and topic`, () => {
      const deployment = named('Deployment', `streamscore-worker-${name}`);
      const container = podSpec(deployment).containers[0]!;
      const { text, env, secretFiles, loaded } = podPipeline(name, container);
      assert.equal(text, readFileSync(`pipelines/${name}.yaml`, 'utf8'));
      assert.deepEqual(loaded.problems, []);
      const kafka = loaded.pipeline!.spec.source.kafka!;

      const scaled = named('ScaledObject', `streamscore-worker-${name}`);
      assert.deepEqual(scaled.spec['scaleTargetRef'], { name: deployment.metadata.name });
      const trigger = (scaled.spec['triggers'] as { type: string; metadata: Record<string, string> }[])[0]!;
      assert.equal(trigger.type, 'kafka');
      assert.equal(trigger.metadata['consumerGroup'], kafka.group_id);
      assert.deepEqual([trigger.metadata['topic']], kafka.topics);
      assert.equal(env[trigger.metadata['bootstrapServersFromEnv']!], settings['KAFKA_BROKERS']);
      const partitions = Number(scaled.metadata.annotations?.['streamscore.dev/topic-partitions']);
      const max = scaled.spec['maxReplicaCount'] as number;
      assert.ok(max >= 1 && max <= partitions, `maxReplicaCount ${max} ≤ ${partitions} partitions`);
      assert.ok((scaled.spec['minReplicaCount'] as number) >= 1, 'a worker for backfills and schedules');

      // Every secret the pipeline reads comes from a file of the pod, and every file is read.
      const fileVars = container.env.filter((e) => e.name.endsWith('_FILE'));
      assert.deepEqual([...new Set(secretFiles)].sort(), fileVars.map((e) => e.value!).sort());
      const secretRefs = [...text.matchAll(SECRET_REF)].map((m) => m[1]!);
      assert.ok(secretRefs.length > 0);
      for (const v of secretRefs)
        assert.ok(
          fileVars.some((e) => e.name === `${v}_FILE`),
          `${name}: \${${v}} from a secret file (${v}_FILE), not its default`,
        );
    });
  }

  it('each worker pod: one process, probes on its health server, a grace period longer than the drain', () => {
    for (const name of PIPELINES) {
      const spec = podSpec(named('Deployment', `streamscore-worker-${name}`));
      const c = spec.containers[0]!;
      assert.deepEqual(c.args.slice(0, 3), ['run', '--workers', '1']);
      const port = Number(c.args[c.args.indexOf('--port') + 1]);
      assert.deepEqual(
        c.ports.map((p) => [p.name, p.containerPort]),
        [['metrics', port]],
      );
      assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
      assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
      assert.ok(
        spec.terminationGracePeriodSeconds > DRAIN_S,
        `${name}: ${spec.terminationGracePeriodSeconds} s`,
      );
      assert.ok(c.resources.requests.cpu && c.resources.requests.memory, `${name}: resource requests`);
    }
  });

  it('a PodDisruptionBudget per Deployment, and the serve API only for the pipeline with a serve: section', () => {
    const deployments = byKind('Deployment').map((d) => d.metadata.name);
    assert.deepEqual(
      byKind('PodDisruptionBudget')
        .map((p) => p.metadata.name)
        .sort(),
      [...deployments].sort(),
    );
    assert.deepEqual(
      deployments.filter((d) => d.startsWith('streamscore-serve-')),
      ['streamscore-serve-fraud-scoring'],
    );
    const serve = podSpec(named('Deployment', 'streamscore-serve-fraud-scoring')).containers[0]!;
    const { loaded } = podPipeline('fraud-scoring', serve);
    assert.ok(loaded.pipeline!.spec.serve, 'fraud-scoring has a serve: section');
    const hpa = named('HorizontalPodAutoscaler', 'streamscore-serve-fraud-scoring');
    assert.equal((hpa.spec['scaleTargetRef'] as { name: string }).name, 'streamscore-serve-fraud-scoring');
    const service = named('Service', 'streamscore-serve-fraud-scoring');
    assert.deepEqual(
      (service.spec['ports'] as { targetPort: string }[]).map((p) => p.targetPort),
      ['http'],
    );
  });
});
