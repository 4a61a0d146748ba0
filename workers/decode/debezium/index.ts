import { defineComponent } from '../../core/component.js';
import { debeziumDecoderConfig } from './config.js';

export const debeziumDecoder = defineComponent({
  type: 'debezium',
  summary: 'Debezium CDC envelopes, JSON (schemas on/off) or Avro through the schema registry.',
  config: debeziumDecoderConfig,
  examples: [
    { encoding: 'json' },
    { encoding: 'avro', schema_registry: { url: 'http://127.0.0.1:18081/apis/ccompat/v7' } },
  ],
});
