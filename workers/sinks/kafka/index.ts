import { defineComponent } from '../../core/component.js';
import { kafkaSinkConfig } from './config.js';

export const kafkaSink = defineComponent({
  type: 'kafka',
  summary: 'Predictions to a Kafka topic as JSON or Avro.',
  config: kafkaSinkConfig,
  examples: [{ topic: 'ml.churn-scores', format: 'json' }],
});
