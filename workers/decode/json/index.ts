import { defineComponent } from '../../core/component.js';
import { jsonDecoderConfig } from './config.js';

export const jsonDecoder = defineComponent({
  type: 'json',
  summary: 'Plain JSON records.',
  config: jsonDecoderConfig,
  examples: [{}],
});
