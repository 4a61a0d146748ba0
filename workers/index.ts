/**
 * streamscore as a library (`import { openScorer } from 'streamscore'`): a pipeline's compiled
 * features and model versions in a Node service's own process — the very code `streamscore run`
 * scores change events with and `streamscore serve` answers HTTP calls with.
 *
 * ```ts
 * import { openScorer } from 'streamscore';
 *
 * const scorer = await openScorer('pipelines/churn-scoring.yaml');
 * const [r] = await scorer.score([{ after: { customer_id: 42, plan: 'pro', … } }]);
 * if (r.ok) console.log(r.outputs.churn_probability, r.model.version);
 * await scorer.close();
 * ```
 *
 * Only what is exported here is the package's interface; deeper paths are not exported.
 */
// First: kafkajs' producer groups messages in one pass (core/kafkajs-grouping.ts), checksums its
// record batches with a faster CRC-32C (core/kafkajs-crc32c.ts) and encodes into pooled buffers
// (core/kafkajs-encoder.ts).
import './core/kafkajs-grouping.js';
import './core/kafkajs-crc32c.js';
import './core/kafkajs-encoder.js';

export type { Logger, ModelInfo } from './core/types.js';
export type { InputRecord } from './scoring/input.js';
export { InputError } from './scoring/input.js';
export type {
  CurrentModels,
  FeatureInfo,
  OpenedScorer,
  OpenScorerOptions,
  ScorerInfo,
} from './scoring/open.js';
export { openScorer, PipelineInvalidError } from './scoring/open.js';
export type { Decision, ScoredResult, ScoreFailure, ScoreOptions } from './scoring/scorer.js';
export { ScoreRejectedError, ScorerError } from './scoring/scorer.js';
