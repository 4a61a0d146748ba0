import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRoutineKafkaLog } from '../../../workers/sources/kafka/client.js';

describe("kafkajs' routine log entries", () => {
  it('are a rebalancing group and a topic not there yet', () => {
    const rebalancing = 'The group is rebalancing, so a rejoin is needed';
    assert.equal(isRoutineKafkaLog('Response Heartbeat(key: 12, version: 3)', rebalancing), true);
    assert.equal(isRoutineKafkaLog('Response OffsetCommit(key: 8, version: 5)', rebalancing), true);
    assert.equal(isRoutineKafkaLog('The group is rebalancing, re-joining', rebalancing), true);
    assert.equal(
      isRoutineKafkaLog(
        'Response Heartbeat(key: 12, version: 3)',
        'Specified group generation id is not valid',
      ),
      true,
    );
    assert.equal(
      isRoutineKafkaLog(
        'Response Metadata(key: 3, version: 6)',
        'This server does not host this topic-partition',
      ),
      true,
    );
  });

  it('are not errors that need a person', () => {
    assert.equal(
      isRoutineKafkaLog(
        'Response Produce(key: 0, version: 7)',
        'This server does not host this topic-partition',
      ),
      false,
    );
    assert.equal(
      isRoutineKafkaLog('Response SaslAuthenticate(key: 36, version: 1)', 'Authentication failed'),
      false,
    );
    assert.equal(isRoutineKafkaLog('Connection error: connect ECONNREFUSED', undefined), false);
  });
});
