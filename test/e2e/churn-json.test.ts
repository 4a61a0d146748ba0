import { churnSuite } from '../support/churn-e2e.js';

churnSuite('json');
