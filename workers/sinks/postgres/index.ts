import { defineComponent } from '../../core/component.js';
import { postgresSinkConfig } from './config.js';

export const postgresSink = defineComponent({
  type: 'postgres',
  summary: 'Batched, order-guarded upsert into Postgres (knex + pg).',
  config: postgresSinkConfig,
  examples: [
    {
      url: '${DATABASE_URL}',
      table: 'ml.customer_churn_scores',
      key: ['customer_id'],
      columns: { customer_id: 'key', churn_probability: 'churn_probability', churn_label: 'churn_label' },
      create_table: true,
    },
  ],
});
