import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../workers/serve/server.js';
import { paymentRow } from '../../support/payments.js';
import { fraudPipelineCopy } from '../../support/pipelines.js';
import { serveForTest } from '../../support/serve.js';
import { uniqueId } from '../../support/stack.js';

// --tls-cert/--tls-key: the API over HTTPS with a certificate of the operator's (here a
// self-signed one made by openssl for 127.0.0.1), and nothing served in clear text on that port.
const id = uniqueId();
let server: RunningServer;
let dir: string;

before(async () => {
  const file = fraudPipelineCopy(id, 'fraud-tls', (doc) => doc.setIn(['spec', 'serve', 'auth'], 'none'));
  dir = join(file, '..');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  server = await serveForTest([file], {
    tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') },
  });
});

after(async () => {
  await server?.close();
});

function post(url: string, body: string, ca: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', ca, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('scores over HTTPS with the given certificate; plain HTTP gets no answer', async () => {
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = readFileSync(join(dir, 'cert.pem'));
  const r = await post(
    `${server.url}/v1/pipelines/fraud-tls/predict`,
    JSON.stringify({ after: paymentRow() }),
    ca,
  );
  assert.equal(r.status, 200, r.text);
  assert.equal((JSON.parse(r.text) as { model: { version: string } }).model.version, '1');
  await assert.rejects(fetch(`${server.url.replace('https:', 'http:')}/healthz`));
});
