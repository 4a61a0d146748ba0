import { defineComponent } from '../../core/component.js';
import { kafkaSourceConfig } from './config.js';

export const kafkaSource = defineComponent({
  type: 'kafka',
  summary: 'Kafka consumer group; offsets are committed only after every sink wrote every record up to them.',
  config: kafkaSourceConfig,
  examples: [
    { brokers: '127.0.0.1:19092', topics: 'crm.public.customers', group_id: 'churn-scoring' },
    {
      brokers: ['b1:9093', 'b2:9093'],
      topics: ['payments.public.transactions'],
      group_id: 'fraud',
      sasl: { mechanism: 'scram-sha-512', username: 'fraud', password: 'placeholder' },
      tls: { ca_file: '/etc/ssl/kafka-ca.pem' },
    },
  ],
});
