import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import { Secret } from '../../../workers/core/secret.js';
import { checkKafkaConnection, createKafkaClient } from '../../../workers/sources/kafka/client.js';
import type { KafkaSourceConfig } from '../../../workers/sources/kafka/config.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';
import { fraudPipelineCopy } from '../../support/pipelines.js';
import { otherCa, readSecret, secureStack, viaLocalhost } from '../../support/secure-stack.js';
import { deleteGroups, deleteTopics, uniqueId } from '../../support/stack.js';
import { silentLogger } from '../../unit/sinks/fixtures.js';

// Kafka's SASL_SSL listener on the local stack (SCRAM-SHA-512, the stack CA's certificate for
// IP:127.0.0.1). A pipeline's source reaches it with sasl + tls and its password from a file
// (KAFKA_SASL_PASSWORD_FILE, read for ${KAFKA_SASL_PASSWORD}); a wrong CA, a client without TLS, a
// wrong password and a host name the certificate does not carry are each refused with an error
// naming Kafka and the setting to fix.
const stack = secureStack();
const id = uniqueId();
let base: KafkaSourceConfig;

before(async () => {
  const file = fraudPipelineCopy(id, `fraud-sasl-${id}`, (doc) => {
    doc.setIn(['spec', 'source', 'kafka', 'brokers'], '${KAFKA_SASL_BROKERS}');
    doc.setIn(['spec', 'source', 'kafka', 'sasl'], {
      mechanism: 'scram-sha-512',
      username: '${KAFKA_SASL_USERNAME}',
      password: '${KAFKA_SASL_PASSWORD}',
    });
    doc.setIn(['spec', 'source', 'kafka', 'tls'], { ca_file: '${STACK_CA_FILE}' });
  });
  const v = await validatePipelineFile(file);
  assert.deepEqual(v.problems, []);
  base = v.pipeline!.spec.source.kafka!;
  assert.equal(base.sasl?.password.reveal(), readSecret(stack.kafkaPasswordFile), 'read from the *_FILE');
  assert.equal(base.tls?.reject_unauthorized, true);
});

async function refused(cfg: KafkaSourceConfig, code: string, message: RegExp): Promise<void> {
  await assert.rejects(checkKafkaConnection(cfg, silentLogger), (err: unknown) => {
    assert.ok(PipelineError.is(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, /^kafka \S+: /, 'names the service');
    assert.match(err.message, message);
    return true;
  });
}

describe('kafka SASL_SSL listener', () => {
  it('the pipeline source settings connect, produce and consume over SASL_SSL', async () => {
    await checkKafkaConnection(base, silentLogger);
    const kafka = createKafkaClient(base, silentLogger);
    const topic = `sasl-${id}`;
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId: `sasl-${id}` });
    try {
      await producer.connect();
      await producer.send({ topic, messages: [{ key: 'k', value: 'over TLS' }] });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const got = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message within 30 s')), 30_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            clearTimeout(timer);
            resolve(String(message.value));
          },
        });
      });
      assert.equal(got, 'over TLS');
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await deleteTopics([topic]);
      await deleteGroups([`sasl-${id}`]);
    }
  });

  it('a CA that did not sign the broker certificate is refused', async () => {
    await refused(
      { ...base, tls: { ...base.tls!, ca_file: otherCa() } },
      'KAFKA_TLS',
      /TLS failed: the broker certificate is not signed by a trusted CA .*tls\.ca_file/,
    );
  });

  it('a client without TLS is refused: the listener requires it', async () => {
    const { tls: _none, ...plain } = base;
    await refused(plain, 'KAFKA_TLS', /the listener requires TLS and this client connects without: set tls/);
  });

  it('a wrong password is refused', async () => {
    await refused(
      { ...base, sasl: { ...base.sasl!, password: new Secret('not-the-password') } },
      'KAFKA_AUTH',
      /SASL authentication failed: .*invalid credentials/,
    );
  });

  it('the host name is verified: the certificate names IP:127.0.0.1, not localhost', async () => {
    await refused(
      { ...base, brokers: base.brokers.map(viaLocalhost) },
      'KAFKA_TLS',
      /TLS failed: the broker certificate does not name the host connected to .*localhost/,
    );
  });
});
