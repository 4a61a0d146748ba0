import { chaosTest } from '../support/chaos.js';
import { brokerScenario } from './scenarios.js';

// The broker SIGKILLed twice under load and restarted at once, then down for 60 s.
chaosTest(
  'under 5,000 events/s with a --workers 2 fleet: nothing lost, nothing stale, no position regressed, both workers alive, lag under 5 s within 90 s of each restart',
  brokerScenario({ kills: 2, gapS: 10, downS: 2, outageS: 60, seconds: 240 }),
);
