import { chaosTest } from '../support/chaos.js';
import { postgresScenario } from './scenarios.js';

// The sink's (and Debezium's) Postgres restarted with -m immediate three times under load.
chaosTest(
  'under 5,000 events/s and Debezium changes with a --workers 2 fleet: nothing lost, nothing stale, no position regressed, both workers alive, lag under 5 s within 90 s of each restart',
  postgresScenario({ stops: 3, gapS: 20, downS: 5, seconds: 90 }),
);
