import { defineComponent } from '../../core/component.js';
import { snowflakeSinkConfig } from './config.js';

export const snowflakeSink = defineComponent({
  type: 'snowflake',
  summary: 'Batched, order-guarded MERGE or append into Snowflake.',
  config: snowflakeSinkConfig,
  examples: [
    {
      account: 'acme-prod',
      user: 'STREAMSCORE',
      auth: { password: '${SNOWFLAKE_PASSWORD}' },
      database: 'ANALYTICS',
      schema: 'ML',
      table: 'CUSTOMER_CHURN_SCORES',
      key: ['CUSTOMER_ID'],
      columns: { CUSTOMER_ID: 'key', CHURN_PROBABILITY: 'churn_probability' },
    },
  ],
});
