import { brokerScenario, redisBackfillScenario, registryScenario } from '../chaos/scenarios.js';
import { chaosTest } from '../support/chaos.js';

// The short version of `make chaos` (issue 19), in `make test`: real faults on the stack's own
// processes under 5,000 events/s with a --workers 2 fleet, each judged by the one checker of
// test/support/chaos.ts (lost, stale, regressed, extra keys, audit duplicates, dead workers, lag).
const claim =
  'nothing lost, nothing stale, no position regressed, both workers alive, lag under 5 s within 90 s';
chaosTest(claim, brokerScenario({ kills: 2, gapS: 8, downS: 1, seconds: 100 }));
// The Postgres restart (with Debezium capturing that Postgres) runs in `make chaos` only
// (test/chaos/postgres.test.ts) until Debezium's catch-up after its database restarts is bounded:
// in a CI dry run Debezium had not delivered 1,870 keys' final rows 3 minutes after the second
// restart, and the keys it never delivered were counted lost. The sink's own durability across
// immediate stops stays in make test (test/e2e/durability.test.ts).
chaosTest(
  `the backfill completes exactly; ${claim}`,
  redisBackfillScenario({ kills: 2, rows: 80_000, downS: 1, seconds: 40 }),
);
// The schema registry away while the load switches to schema versions the workers have not seen:
// they wait for it (the fleet once crash-looped to its end on such an outage).
chaosTest(`no dead letters; ${claim}`, registryScenario({ downS: 15, seconds: 50 }));
