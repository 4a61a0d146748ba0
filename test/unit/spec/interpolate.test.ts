import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Secret } from '../../../workers/core/secret.js';
import { loadPipelineText } from '../../../workers/spec/load.js';
import { formatProblem } from '../../../workers/spec/problems.js';

const doc = (sinkUrl: string, extra = '') => `apiVersion: streamscore/v1
kind: Pipeline
metadata: { name: t }
spec:
  source: { kafka: { brokers: "\${BROKERS:-localhost:9092}", topics: t, group_id: g${extra} } }
  decode: { json: {} }
  features: { key: key, map: { a: amount } }
  model: { name: m, version: 1, path: m.onnx, outputs: { s: value } }
  sinks: [ { postgres: { url: ${sinkUrl}, table: ml.s, key: [id], columns: { id: key, s: s } } } ]
`;

test('defaults, env values and files are interpolated; secrets become Secret', () => {
  const r = loadPipelineText('p.yaml', doc('"${file:/run/pg}"'), {
    env: {},
    readFile: (p) => (p === '/run/pg' ? 'postgres://u:hunter2@db/x\n' : ''),
  });
  assert.deepEqual(r.problems, []);
  const sink = r.pipeline!.spec.sinks[0]!.postgres!;
  assert.ok(sink.url instanceof Secret);
  assert.equal(sink.url.reveal(), 'postgres://u:hunter2@db/x');
  assert.equal(String(sink.url), '***');
  assert.equal(JSON.stringify({ u: sink.url }), '{"u":"***"}');
  assert.deepEqual(r.pipeline!.spec.source.kafka!.brokers, ['localhost:9092']);
  assert.ok(r.secrets.has('postgres://u:hunter2@db/x'));
});

test('a whole-scalar unquoted reference is re-read as a number', () => {
  const text = doc('x').replace(
    '  source: { kafka: { brokers: "${BROKERS:-localhost:9092}", topics: t, group_id: g } }',
    '  source:\n    kafka:\n      brokers: localhost:9092\n      topics: t\n      group_id: g\n      session_timeout_ms: ${TIMEOUT}',
  );
  const r = loadPipelineText('p.yaml', text, { env: { TIMEOUT: '45000' } });
  assert.deepEqual(r.problems.map(formatProblem), []);
  assert.equal(r.pipeline!.spec.source.kafka!.session_timeout_ms, 45000);
});

test('$${ is a literal and a missing variable names the variable and the path', () => {
  const r = loadPipelineText('p.yaml', doc('"$${NOT_A_REF}${MISSING}"'), { env: {} });
  assert.deepEqual(r.problems.map(formatProblem), [
    'p.yaml:9:45: spec.sinks[0].postgres.url: environment variable MISSING is not set (use ${MISSING:-default} for a default)',
  ]);
});

test('an unset ${VAR} reads the file VAR_FILE names (a mounted secret), as a secret; the variable wins', () => {
  const files: Record<string, string> = { '/run/secrets/db': 'postgres://u:s3cret@db/x\n' };
  const readFile = (p: string) => {
    const f = files[p];
    if (f === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return f;
  };
  const r = loadPipelineText('p.yaml', doc('"${DB_URL:-postgres://localhost/x}"'), {
    env: { DB_URL_FILE: '/run/secrets/db' },
    readFile,
  });
  assert.deepEqual(r.problems.map(formatProblem), []);
  const url = r.pipeline!.spec.sinks[0]!.postgres!.url as Secret;
  assert.equal(url.reveal(), 'postgres://u:s3cret@db/x');
  assert.ok(r.secrets.has('postgres://u:s3cret@db/x'), 'redacted in all output');

  const set = loadPipelineText('p.yaml', doc('"${DB_URL}"'), {
    env: { DB_URL: 'postgres://env/x', DB_URL_FILE: '/run/secrets/db' },
    readFile,
  });
  assert.equal((set.pipeline!.spec.sinks[0]!.postgres!.url as Secret).reveal(), 'postgres://env/x');

  const missing = loadPipelineText('p.yaml', doc('"${DB_URL}"'), {
    env: { DB_URL_FILE: '/run/nope' },
    readFile,
  });
  assert.deepEqual(missing.problems.map(formatProblem), [
    "p.yaml:9:32: spec.sinks[0].postgres.url: cannot read secret file '/run/nope' (from DB_URL_FILE): ENOENT",
  ]);
});
