import { brokerScenario, postgresScenario, redisBackfillScenario } from '../chaos/scenarios.js';
import { chaosTest } from '../support/chaos.js';

// The short version of `make chaos` (issue 19), in `make test`: real faults on the stack's own
// processes under 5,000 events/s with a --workers 2 fleet, each judged by the one checker of
// test/support/chaos.ts (lost, stale, regressed, extra keys, audit duplicates, dead workers, lag).
const claim =
  'nothing lost, nothing stale, no position regressed, both workers alive, lag under 5 s within 90 s';
chaosTest(claim, brokerScenario({ kills: 2, gapS: 8, downS: 1, seconds: 100 }));
chaosTest(claim, postgresScenario({ stops: 2, gapS: 8, downS: 1, seconds: 25 }));
chaosTest(
  `the backfill completes exactly; ${claim}`,
  redisBackfillScenario({ kills: 2, rows: 80_000, downS: 1, seconds: 40 }),
);
