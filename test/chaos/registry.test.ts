import { chaosTest } from '../support/chaos.js';
import { registryScenario } from './scenarios.js';

// The schema registry SIGKILLed for 30 s while the load switches to two schema versions the workers have not seen.
chaosTest(
  'under 5,000 events/s with a --workers 2 fleet: every event decoded once the registry is back, nothing lost or stale, lag under 5 s within 90 s',
  registryScenario({ downS: 30, seconds: 90 }),
);
