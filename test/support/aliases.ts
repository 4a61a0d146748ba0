import { Kafka, logLevel } from 'kafkajs';
import { readControlState } from '../../workers/control/index.js';
import { setAlias } from '../../workers/control/set-alias.js';
import { readVersion } from '../../workers/models/catalog.js';
import { env } from './stack.js';

/** The aliases the example pipelines follow, as `make demo` sets them. */
export const EXAMPLE_ALIASES: Record<string, Record<string, string>> = {
  churn: { champion: '1', challenger: '3' },
};

/**
 * Sets each alias that was never set on the control topic (default: the stack's
 * `streamscore.control`) to its example target, like `streamscore model promote` would; an alias
 * already set is left where it is. Needed before a worker of pipelines/churn-scoring.yaml starts.
 */
export async function ensureAliases(
  aliases: Record<string, Record<string, string>> = EXAMPLE_ALIASES,
  topic = 'streamscore.control',
): Promise<void> {
  const kafka = new Kafka({
    brokers: env.kafkaBrokers.split(','),
    clientId: 'test-aliases',
    logLevel: logLevel.NOTHING,
  });
  const state = await readControlState(kafka, topic);
  for (const [model, byAlias] of Object.entries(aliases)) {
    for (const [alias, version] of Object.entries(byAlias)) {
      const sha256 = readVersion('pipelines/models', model, version).sha256;
      const t = { model, alias, version, sha256, by: 'test-setup', reason: 'example alias for the tests' };
      await setAlias(kafka, topic, state, t, { ifUnset: true });
    }
  }
}
