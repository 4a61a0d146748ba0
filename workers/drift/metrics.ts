import type { Meter } from '@opentelemetry/api';
import type { WindowReport } from './evaluate.js';

/**
 * The drift instruments, one series per (pipeline, model, version, feature) of the monitored
 * version's latest closed window; outputs are "features" named by their prediction field.
 *   streamscore_feature_drift              PSI of the window against the reference
 *   streamscore_feature_drift_threshold    the PSI above which the feature alarms (BH level)
 *   streamscore_feature_drift_alarm        1 when it alarmed, else 0
 *   streamscore_feature_null_rate          share of the window's rows with a null value
 *   streamscore_feature_out_of_range_rate  share of its values outside the reference's range/categories
 *   streamscore_drift_windows_total        closed windows (per pipeline, model, version)
 */
export interface DriftMetrics {
  window(report: WindowReport): void;
  /**
   * A version is no longer scored here: its series stop changing (OpenTelemetry keeps exporting
   * their last values) and its alarms read 0.
   */
  retire(model: string, version: string): void;
}

export function driftMetrics(meter: Meter, pipeline: string): DriftMetrics {
  const gauge = (name: string, description: string) => meter.createObservableGauge(name, { description });
  const drift = gauge(
    'streamscore_feature_drift',
    "PSI of the latest closed drift window against the model version's reference.",
  );
  const threshold = gauge(
    'streamscore_feature_drift_threshold',
    'PSI above which the feature alarms in that window: (1/n + 1/m) × the χ²(B−1) quantile at its Benjamini–Hochberg level.',
  );
  const alarm = gauge(
    'streamscore_feature_drift_alarm',
    '1 when the latest closed window alarmed on the feature.',
  );
  const nulls = gauge(
    'streamscore_feature_null_rate',
    "Share of the latest window's rows whose value was null.",
  );
  const outOfRange = gauge(
    'streamscore_feature_out_of_range_rate',
    "Share of the latest window's values outside the reference's range (or an unknown category).",
  );
  // Exported as streamscore_drift_windows_total (the Prometheus exporter adds _total to counters).
  const windows = meter.createCounter('streamscore_drift_windows', {
    description: 'Drift windows closed and compared with the reference.',
  });
  const latest = new Map<string, WindowReport>();
  const retired = new Map<string, WindowReport>();
  meter.addBatchObservableCallback(
    (r) => {
      for (const w of latest.values()) {
        for (const s of w.stats) {
          const attrs = { pipeline, model: w.model, version: w.version, feature: s.feature };
          if (s.statistic !== null) r.observe(drift, s.statistic, attrs);
          if (s.threshold !== null) r.observe(threshold, s.threshold, attrs);
          r.observe(alarm, s.alarm ? 1 : 0, attrs);
          r.observe(nulls, s.nullRate, attrs);
          r.observe(outOfRange, s.outOfRangeRate, attrs);
        }
      }
      for (const w of retired.values()) {
        for (const s of w.stats) {
          r.observe(alarm, 0, { pipeline, model: w.model, version: w.version, feature: s.feature });
        }
      }
    },
    [drift, threshold, alarm, nulls, outOfRange],
  );
  return {
    window(report) {
      latest.set(`${report.model}/${report.version}`, report);
      windows.add(1, { pipeline, model: report.model, version: report.version });
    },
    retire(model, version) {
      const key = `${model}/${version}`;
      const w = latest.get(key);
      latest.delete(key);
      if (w === undefined) return;
      // OpenTelemetry keeps an observable series with its last value once it stops being observed:
      // a left version's alarms are reported as 0 from now on, so no alert stays firing for it.
      retired.set(key, w);
      if (retired.size > 20) retired.delete(retired.keys().next().value!);
    },
  };
}
