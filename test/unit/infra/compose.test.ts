import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';

// The compose file must offer the same services on the same ports as infra/local.
const EXPECTED: Record<string, number> = {
  kafka: 19092,
  registry: 18081,
  postgres: 15432,
  redis: 16379,
  connect: 18083,
  fakesnow: 18085,
};

test('infra/docker-compose.yml publishes the local stack services on the same ports', () => {
  const doc = parse(readFileSync('infra/docker-compose.yml', 'utf8')) as {
    services: Record<string, { ports?: string[] }>;
  };
  assert.deepEqual(Object.keys(doc.services).sort(), Object.keys(EXPECTED).sort());
  for (const [name, port] of Object.entries(EXPECTED)) {
    const published = (doc.services[name]?.ports ?? []).map((p) => Number(String(p).split(':')[0]));
    assert.ok(published.includes(port), `${name} should publish ${port}, publishes ${published.join(', ')}`);
  }
});

const compose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
test('docker compose config accepts infra/docker-compose.yml', {
  skip: compose.status !== 0 ? 'no docker compose CLI on this machine' : false,
}, () => {
  const r = spawnSync('docker', ['compose', '-f', 'infra/docker-compose.yml', 'config', '--quiet'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
});
