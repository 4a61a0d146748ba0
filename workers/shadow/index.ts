export {
  defaultShadowTable,
  parseShadowTableName,
  type ShadowCompare,
  type ShadowSettings,
  shadowSettingsOf,
} from './config.js';
export {
  computeShadowReport,
  formatShadowReport,
  queryShadowReport,
  type ShadowPairRow,
  type ShadowReport,
  type ShadowReportOptions,
  type ShadowVersionPair,
} from './report.js';
export {
  formatPercent,
  type HistogramBin,
  histogram,
  parseSince,
  percentileCont,
  type RateInterval,
  type ShadowLimits,
  shadowVerdict,
  type Verdict,
  wilsonInterval,
} from './stats.js';
export { type ShadowPairBatch, ShadowTable, shadowTableSql } from './table.js';
