import { defineComponent } from '../../core/component.js';
import { postgresTableSourceConfig } from './config.js';

export const postgresTableSource = defineComponent({
  type: 'postgres',
  summary: 'Postgres table reader for backfills.',
  config: postgresTableSourceConfig,
  examples: [{ url: '${DATABASE_URL}', table: 'crm.customers', key: 'customer_id' }],
});
