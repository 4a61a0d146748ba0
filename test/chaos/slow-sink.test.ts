import { chaosTest } from '../support/chaos.js';
import { slowSinkScenario } from './scenarios.js';

// The sink stalled for twice the session timeout: no commit passes unwritten records.
chaosTest(
  'under 5,000 events/s: nothing lost, nothing stale, no position regressed, both workers alive, lag under 5 s within 90 s',
  slowSinkScenario({ stallS: 20, seconds: 60 }),
);
