import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, startCli } from '../support/cli.js';
import { paymentRow } from '../support/payments.js';
import { fraudPipelineCopy } from '../support/pipelines.js';
import { freePort, uniqueId, waitFor } from '../support/stack.js';

// `streamscore serve` as operators run it: it refuses to start without tokens unless told
// otherwise, runs N processes behind one port, and drains the requests in flight on SIGTERM.
const id = uniqueId();
const dir = join(tmpdir(), `streamscore-test-${id}`);
const TOKEN = `cli-token-${id}-0123456789`;

const row = paymentRow();

function predict(port: number, pipeline: string, token = TOKEN): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/v1/pipelines/${pipeline}/predict`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ after: row }),
  });
}

/** A GET on a connection of its own (a cluster hands each new connection to the next worker). */
function freshGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
      });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

async function listening(port: number): Promise<void> {
  await waitFor(
    `serve on port ${port}`,
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
    90_000,
  );
}

test('without serve.auth it refuses to start, naming the file and the way out; --no-auth serves', async () => {
  const file = fraudPipelineCopy(id, 'fraud-open', (doc) => doc.deleteIn(['spec', 'serve', 'auth']));
  const refused = await runCli(['serve', file, '--port', '0']);
  assert.equal(refused.code, 1);
  assert.match(
    refused.output,
    /fraud-open\.yaml: spec\.serve\.auth: expected bearer tokens .* or an explicit auth: none, got nothing \(or start with --no-auth\)/,
  );
  const port = await freePort();
  const cli = startCli(['serve', file, '--port', String(port), '--no-auth']);
  try {
    await listening(port);
    assert.equal((await predict(port, 'fraud-open', 'anything')).status, 200);
  } finally {
    assert.equal(await cli.stop(), 0, cli.output());
  }
});

test('--workers 2: two processes behind one port; SIGTERM drains a request in flight, then exits 0', async () => {
  writeFileSync(join(dir, 'token'), TOKEN);
  const token = (doc: { setIn(p: unknown[], v: unknown): void }) =>
    doc.setIn(['spec', 'serve', 'auth', 'tokens'], [`\${file:${join(dir, 'token')}}`]);
  const quick = fraudPipelineCopy(id, 'fraud-quick', token);
  // A batch that waits a minute to fill: a request stays in flight until the drain scores it.
  const slow = fraudPipelineCopy(id, 'fraud-drain', (doc) => {
    token(doc);
    doc.setIn(['spec', 'serve', 'max_wait_ms'], 60_000);
    doc.setIn(['spec', 'serve', 'timeout_ms'], 120_000);
  });
  const port = await freePort();
  const cli = startCli(['serve', quick, slow, '--port', String(port), '--workers', '2']);
  try {
    await listening(port);
    const pids = execFileSync('pgrep', ['-P', String(cli.child.pid)])
      .toString()
      .trim()
      .split('\n');
    assert.equal(pids.length, 2, `worker processes: ${pids.join(', ')}`);
    const answers = await Promise.all(Array.from({ length: 8 }, () => predict(port, 'fraud-quick')));
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(8).fill(200),
    );
    const inFlight = predict(port, 'fraud-drain');
    // Connections go round-robin: polled on new connections, /metrics reaches the worker holding the row.
    await waitFor('the request admitted by a worker', async () =>
      /streamscore_api_queue_rows\{pipeline="fraud-drain"[^}]*\} 1\b/.test(await freshGet(port, '/metrics')),
    );
    cli.child.kill('SIGTERM');
    const drained = await inFlight;
    assert.equal(drained.status, 200, await drained.clone().text());
    assert.equal(((await drained.json()) as { model: { version: string } }).model.version, '1');
    assert.equal(await cli.exited, 0, cli.output());
  } finally {
    await cli.stop();
  }
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'nothing listens any more');
});
