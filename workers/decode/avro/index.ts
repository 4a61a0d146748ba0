import { defineComponent } from '../../core/component.js';
import { avroDecoderConfig } from './config.js';

export const avroDecoder = defineComponent({
  type: 'avro',
  summary: 'Plain Avro records through the schema registry.',
  config: avroDecoderConfig,
  examples: [{ schema_registry: { url: 'http://127.0.0.1:18081/apis/ccompat/v7' } }],
});
