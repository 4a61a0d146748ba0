import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { connectRedis, type RedisSettings, redisSettings } from '../../../workers/backfill/redis.js';
import { PipelineError } from '../../../workers/core/errors.js';
import { otherCa, secureStack, viaLocalhost } from '../../support/secure-stack.js';
import { uniqueId } from '../../support/stack.js';

// The backfill's Redis over TLS with an ACL user: the environment `streamscore backfill` / `run`
// read (REDIS_URL rediss://user@…, REDIS_PASSWORD_FILE, REDIS_TLS_CA_FILE) reaches the stack's
// TLS-only port and carries a BullMQ job; a wrong CA, a plaintext client on the TLS port, a wrong
// password and a host name the certificate does not carry each fail at once (not after the
// connect time-out) with an error naming Redis and the setting to fix.
const stack = secureStack();
const settings: RedisSettings = redisSettings({
  REDIS_URL: stack.redisTlsUrl,
  REDIS_PASSWORD_FILE: stack.redisPasswordFile,
  REDIS_TLS_CA_FILE: stack.caFile,
});

async function refused(s: RedisSettings, code: string, message: RegExp): Promise<void> {
  const t0 = Date.now();
  await assert.rejects(connectRedis(s, 10_000), (err: unknown) => {
    assert.ok(PipelineError.is(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, /^redis: /, 'names the service');
    assert.match(err.message, message);
    return true;
  });
  assert.ok(Date.now() - t0 < 8_000, `refused at once, not by the time-out (${Date.now() - t0} ms)`);
}

describe('redis TLS port with an ACL user', () => {
  it('the backfill environment connects and carries a BullMQ job', async () => {
    assert.ok(settings.password, 'the password comes from REDIS_PASSWORD_FILE');
    const connection = await connectRedis(settings);
    const name = `tls-${uniqueId()}`;
    const queue = new Queue(name, { connection });
    const events = new QueueEvents(name, { connection });
    const worker = new Worker(name, async (job) => (job.data as { n: number }).n + 1, { connection });
    try {
      assert.equal(await connection.acl('WHOAMI'), 'streamscore');
      await events.waitUntilReady();
      const job = await queue.add('inc', { n: 41 });
      assert.equal(await job.waitUntilFinished(events, 15_000), 42);
    } finally {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });

  it('a CA that did not sign the server certificate is refused', async () => {
    await refused(
      { ...settings, caFile: otherCa() },
      'REDIS_TLS',
      /TLS failed: the server certificate is not signed by a trusted CA .*REDIS_TLS_CA_FILE/,
    );
  });

  it('a plaintext client on the TLS port is refused', async () => {
    await refused(
      { ...settings, url: settings.url.replace('rediss://', 'redis://'), caFile: undefined },
      'REDIS_TLS',
      /is this a TLS port\? Use rediss:\/\//,
    );
  });

  it('a wrong password is refused', async () => {
    await refused({ ...settings, password: 'not-the-password' }, 'REDIS_AUTH', /WRONGPASS/);
  });

  it('the host name is verified: the certificate names IP:127.0.0.1, not localhost', async () => {
    await refused(
      { ...settings, url: viaLocalhost(settings.url) },
      'REDIS_TLS',
      /does not match the server certificate/,
    );
  });

  it('REDIS_TLS_CA_FILE with a redis:// url is a configuration error', async () => {
    await refused(
      { ...settings, url: settings.url.replace('rediss://', 'redis://') },
      'REDIS_CONFIG',
      /use rediss:\/\//,
    );
  });
});
