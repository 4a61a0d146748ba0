import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { redisClientArgs, redisConnectProblem, redisSettings } from '../../../workers/backfill/redis.js';

const pwFile = join(tmpdir(), `streamscore-unit-redis-pw-${process.pid}`);
writeFileSync(pwFile, 's3cr:t@/x\n');
const caFile = join(tmpdir(), `streamscore-unit-redis-ca-${process.pid}.pem`);
writeFileSync(caFile, 'CA PEM');

describe('backfill Redis settings', () => {
  it('defaults: redis://127.0.0.1:6379, no password, no TLS', () => {
    const s = redisSettings({});
    assert.deepEqual(s, { url: 'redis://127.0.0.1:6379', password: undefined, caFile: undefined });
    const a = redisClientArgs(s);
    assert.equal(a.url, 'redis://127.0.0.1:6379');
    assert.equal(a.options.tls, undefined);
  });

  it('REDIS_PASSWORD_FILE without its final newline, into the url (encoded) for the url user', () => {
    const s = redisSettings({
      REDIS_URL: 'rediss://streamscore@127.0.0.1:16380',
      REDIS_PASSWORD_FILE: pwFile,
    });
    assert.equal(s.password, 's3cr:t@/x');
    const u = new URL(redisClientArgs(s).url);
    assert.equal(u.username, 'streamscore');
    assert.equal(decodeURIComponent(u.password), 's3cr:t@/x');
  });

  it('REDIS_PASSWORD wins over REDIS_PASSWORD_FILE', () => {
    assert.equal(redisSettings({ REDIS_PASSWORD: 'env', REDIS_PASSWORD_FILE: pwFile }).password, 'env');
  });

  it('rediss:// is TLS (Node.js CAs), with REDIS_TLS_CA_FILE its CA', () => {
    assert.deepEqual(redisClientArgs({ url: 'rediss://h:1' }).options.tls, {});
    assert.deepEqual(redisClientArgs({ url: 'rediss://h:1', caFile }).options.tls, { ca: 'CA PEM' });
  });

  it('a CA file with a plaintext url, another scheme or an unreadable file are configuration errors', () => {
    assert.throws(
      () => redisClientArgs({ url: 'redis://h:1', caFile }),
      /REDIS_TLS_CA_FILE is set but .* use rediss:\/\//,
    );
    assert.throws(() => redisClientArgs({ url: 'http://h:1' }), /must start with redis:\/\/ or rediss:\/\//);
    assert.throws(
      () => redisSettings({ REDIS_PASSWORD_FILE: '/nonexistent/pw' }),
      /cannot read REDIS_PASSWORD_FILE/,
    );
  });

  it('connection errors that retrying cannot fix are named; others are left to retries', () => {
    const e = (code: string, message: string) => Object.assign(new Error(message), { code });
    assert.equal(redisConnectProblem(e('SELF_SIGNED_CERT_IN_CHAIN', 'x'), true)?.code, 'REDIS_TLS');
    assert.equal(
      redisConnectProblem(new Error('WRONGPASS invalid username-password pair'), true)?.code,
      'REDIS_AUTH',
    );
    assert.equal(
      redisConnectProblem(e('ECONNRESET', 'read ECONNRESET'), false, 1),
      undefined,
      'one reset: a restart',
    );
    assert.equal(redisConnectProblem(e('ECONNRESET', 'read ECONNRESET'), false, 3)?.code, 'REDIS_TLS');
    assert.equal(redisConnectProblem(e('ECONNREFUSED', 'connect ECONNREFUSED'), false, 9), undefined);
  });
});
