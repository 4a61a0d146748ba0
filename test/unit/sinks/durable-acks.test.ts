import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kafka, ProducerRecord } from 'kafkajs';
import { PipelineError } from '../../../workers/core/errors.js';
import { DeadLetterWriter } from '../../../workers/sinks/dead-letter/writer.js';
import { kafkaSinkConfig } from '../../../workers/sinks/kafka/config.js';
import { KafkaSink } from '../../../workers/sinks/kafka/sink.js';
import { batch, pos, row, schema, silentLogger } from './fixtures.js';

// Durable before committed, on the Kafka side: a write resolves only once every in-sync replica has
// the messages (acks -1), by default for output topics and always for dead letters, because the
// source offsets are committed right after.
function recordingKafka(sent: ProducerRecord[]): Kafka {
  const producer = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    send: async (r: ProducerRecord) => {
      sent.push(r);
      return [];
    },
  };
  return { producer: () => producer } as unknown as Kafka;
}

describe('Kafka writes wait for all in-sync replicas', () => {
  it('the Kafka sink produces with acks -1 unless the pipeline says acks: 1', async () => {
    const sent: ProducerRecord[] = [];
    const config = kafkaSinkConfig.parse({ topic: 'scores' });
    assert.equal(config.acks, -1);
    const sink = new KafkaSink({
      config,
      schema,
      pipeline: 'p',
      kafka: recordingKafka(sent),
      logger: silentLogger,
    });
    await sink.open();
    await sink.write(batch([row(1, pos(1)), row(2, pos(1))]));
    assert.ok(sent.length > 0);
    for (const r of sent) assert.equal(r.acks, -1);
  });

  it('the dead-letter writer produces with acks -1 when the runtime gives no acks (it never does)', async () => {
    const sent: ProducerRecord[] = [];
    const writer = new DeadLetterWriter({
      kafka: recordingKafka(sent),
      topic: 'p.dlq',
      logger: silentLogger,
    });
    await writer.write([
      {
        pipeline: 'p',
        error: new PipelineError('bad', { code: 'DECODE_ENVELOPE', stage: 'decode', retryable: false }),
        message: {
          topic: 't',
          partition: 0,
          offset: '1',
          key: null,
          value: Buffer.from('x'),
          headers: {},
          timestamp: '0',
        },
      },
    ]);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.acks, -1);
  });
});
