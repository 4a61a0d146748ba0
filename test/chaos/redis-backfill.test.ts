import { chaosTest } from '../support/chaos.js';
import { redisBackfillScenario } from './scenarios.js';

// Redis, BullMQ's store, SIGKILLed twice mid-chunk during a 200,000-row backfill under streaming load.
chaosTest(
  'the backfill completes exactly (every row at its chunk’s completing read), the stream loses nothing, both workers alive, lag under 5 s within 90 s',
  redisBackfillScenario({ kills: 2, rows: 200_000, downS: 2, seconds: 120 }),
);
