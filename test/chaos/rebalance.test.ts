import { chaosTest } from '../support/chaos.js';
import { rebalanceScenario } from './scenarios.js';

// Members joining and leaving under load: every rebalance hands partitions over mid-batch.
chaosTest(
  'under 5,000 events/s: nothing lost, nothing stale, no position regressed, both fleet workers alive, lag under 5 s within 90 s',
  rebalanceScenario({ stepS: 8, seconds: 75 }),
);
