import {
  brokerScenario,
  postgresScenario,
  redisBackfillScenario,
  registryScenario,
} from '../chaos/scenarios.js';
import { chaosTest } from '../support/chaos.js';

// The short version of `make chaos` (issue 19), in `make test`: real faults on the stack's own
// processes under 5,000 events/s with a --workers 2 fleet, each judged by the one checker of
// test/support/chaos.ts (lost, stale, regressed, extra keys, audit duplicates, dead workers, lag).
const claim =
  'nothing lost, nothing stale, no position regressed, both workers alive, lag under 5 s within 90 s';
chaosTest(claim, brokerScenario({ kills: 2, gapS: 8, downS: 1, seconds: 100 }));
// The stack's Postgres — the sink's, the audit log's, and the source Debezium captures — stopped
// with -m immediate twice (crash recovery at each start). Debezium restarts itself 10 s after
// losing its database; a task it left FAILED would hold its changes forever, so it is restarted as
// an operator would (test/support/connect-operator.ts), and the scenario says so. (A CI run once
// waited 3 minutes for 1,870 keys' final rows from Debezium; its connector's state was not recorded.)
chaosTest(claim, postgresScenario({ stops: 2, gapS: 15, downS: 3, seconds: 60 }));
chaosTest(
  `the backfill completes exactly; ${claim}`,
  redisBackfillScenario({ kills: 2, rows: 80_000, downS: 1, seconds: 40 }),
);
// The schema registry away while the load switches to schema versions the workers have not seen:
// they wait for it (the fleet once crash-looped to its end on such an outage).
chaosTest(`no dead letters; ${claim}`, registryScenario({ downS: 15, seconds: 50 }));
