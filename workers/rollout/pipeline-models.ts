import { aliasKey, type ControlEvent, type ControlState } from '../control/events.js';
import { errorMessage } from '../core/errors.js';
import type { Logger, ModelInfo } from '../core/types.js';
import {
  ModelBatcher,
  type ModelBatcherOptions,
  ModelError,
  type ModelRegistry,
} from '../inference/index.js';
import type { LeasedModel, ModelLease, ModelSource } from '../scoring/lease.js';
import type { CheckedSpec } from '../spec/checks.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { SuspendGate } from './gate.js';
import { type LoadedVersion, loadModelVersion } from './load.js';
import { type ActiveModel, ModelSlot } from './slot.js';
import { describeTarget, type ModelRole, type ModelTarget, modelTargets } from './targets.js';

/** What a worker follows: the fold of the control topic, and each new record as it arrives. */
export interface ControlFeed {
  readonly state: ControlState;
  onEvent(listener: (e: ControlEvent, s: ControlState) => void): () => void;
}

/** A model swap as it happened, for logs, metrics and the bench. */
export interface SwapRecord {
  pipeline: string;
  role: ModelRole;
  from: string | undefined;
  to: string;
  /** Time to load and check the new version. */
  loadMs: number;
  /** From the move's time on the control topic to the swap (includes clock skew between hosts). */
  sinceMoveMs: number | undefined;
}

export interface PipelineModelsOptions {
  file: string;
  pipeline: Pipeline;
  checked: CheckedSpec;
  registry: ModelRegistry;
  logger: Logger;
  /** The control topic's state; required when a target follows an alias. */
  control?: ControlFeed;
  /** The primary's version already loaded by `validate` (fixed versions only). */
  primary?: LoadedVersion;
  /**
   * Micro-batching of every version's session, instead of `spec.model.batch` (`serve` gathers
   * concurrent requests with its own limits), and a hook called after each inference call.
   */
  batching?: ModelBatcherOptions;
  onSwap?: (s: SwapRecord) => void;
  onSwapFailed?: (role: ModelRole, version: string, err: unknown) => void;
}

interface RoleState {
  target: ModelTarget;
  slot: ModelSlot;
  /** The version being loaded or last asked for, so a burst of moves loads only the latest. */
  wanted: string | undefined;
  loading: Promise<void>;
}

/**
 * The models of one pipeline: the primary (the one that decides), and a shadow and a canary when
 * declared, each fixed or following an alias on the control topic; plus the pipeline's suspension
 * gate. Alias moves load the new version next to the old one and swap at the next batch boundary;
 * a version that cannot load or does not fit is refused, and the current one keeps running.
 */
export class PipelineModels implements ModelSource {
  readonly gate = new SuspendGate();
  readonly #roles = new Map<ModelRole, RoleState>();
  readonly #opts: PipelineModelsOptions;
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  private constructor(opts: PipelineModelsOptions) {
    this.#opts = opts;
  }

  static async create(opts: PipelineModelsOptions): Promise<PipelineModels> {
    const pm = new PipelineModels(opts);
    try {
      await pm.#start();
    } catch (err) {
      await pm.close();
      throw err;
    }
    return pm;
  }

  get name(): string {
    return this.#opts.pipeline.metadata.name;
  }

  get canaryPercent(): number {
    return this.#opts.pipeline.spec.model.canary?.percent ?? 0;
  }

  /** The version a role uses now (undefined: not declared, or its alias not set yet). */
  current(role: ModelRole): ModelInfo | undefined {
    return this.#roles.get(role)?.slot.current?.info;
  }

  slot(role: ModelRole): ModelSlot | undefined {
    return this.#roles.get(role)?.slot;
  }

  async #start(): Promise<void> {
    const { control, pipeline: p, logger } = this.#opts;
    for (const target of modelTargets(p)) {
      const slot = new ModelSlot();
      this.#roles.set(target.role, { target, slot, wanted: undefined, loading: Promise.resolve() });
      let version = target.version;
      if (target.alias !== undefined) {
        if (!control) throw new Error(`${describeTarget(target)} needs the control topic`);
        version = control.state.aliases.get(aliasKey(p.spec.model.name, target.alias))?.version;
        if (version === undefined) {
          if (target.role === 'primary') {
            throw new ModelError(
              'MODEL_ALIAS_UNSET',
              `${p.spec.model.name}@${target.alias}`,
              `alias ${target.alias} of model ${p.spec.model.name} has never been set on control topic ${p.spec.model.control_topic}; ` +
                `set it with: streamscore model promote ${p.spec.model.name} <version> --alias ${target.alias} --reason "…"`,
            );
          }
          logger.warn(
            { pipeline: this.name, role: target.role, alias: target.alias },
            `The ${target.role}'s alias is not set yet; the pipeline runs without a ${target.role} until it is.`,
          );
          continue;
        }
      }
      const loaded =
        target.role === 'primary' && this.#opts.primary && this.#opts.primary.info.version === version
          ? this.#opts.primary
          : await this.#load(target.role, version!);
      slot.replace(this.#activate(loaded, target.alias));
      this.#roles.get(target.role)!.wanted = version;
    }
    this.#applySuspension(control?.state);
    if (control) this.#unsubscribe = control.onEvent((e, s) => this.#onEvent(e, s));
  }

  #activate(v: LoadedVersion, alias: string | undefined): ActiveModel {
    const b = this.#opts.pipeline.spec.model.batch;
    return {
      model: v.model,
      info: alias === undefined ? v.info : { ...v.info, alias },
      batcher: new ModelBatcher(
        v.model,
        this.#opts.batching ?? { maxSize: b.max_size, maxWaitMs: b.max_wait_ms },
      ),
    };
  }

  #load(role: ModelRole, version: string): Promise<LoadedVersion> {
    const o = this.#opts;
    return loadModelVersion({
      file: o.file,
      pipeline: o.pipeline,
      checked: o.checked,
      version,
      role,
      registry: o.registry,
    });
  }

  #onEvent(e: ControlEvent, s: ControlState): void {
    if (this.#closed) return;
    if (e.type === 'pipeline') {
      if (e.pipeline === this.name) this.#applySuspension(s);
      return;
    }
    if (e.model !== this.#opts.pipeline.spec.model.name) return;
    for (const r of this.#roles.values()) {
      if (r.target.alias !== e.alias) continue;
      const version = s.aliases.get(aliasKey(e.model, e.alias))?.version;
      if (version === undefined || version === r.wanted) continue;
      r.wanted = version;
      r.loading = r.loading.then(() => this.#swap(r, version, e.at));
    }
  }

  async #swap(r: RoleState, version: string, movedAt: string): Promise<void> {
    if (this.#closed || r.wanted !== version) return; // a later move superseded this one
    const from = r.slot.current?.info.version;
    if (from === version) return;
    const started = performance.now();
    let loaded: LoadedVersion | undefined;
    try {
      loaded = await this.#load(r.target.role, version);
      this.#checkFieldTypes(loaded);
    } catch (err) {
      await loaded?.model.close();
      this.#opts.logger.error(
        {
          pipeline: this.name,
          role: r.target.role,
          alias: r.target.alias,
          from,
          refused: version,
          error: errorMessage(err),
        },
        `Refused model version ${version}; the ${r.target.role} keeps version ${from ?? '(none)'}.`,
      );
      this.#opts.onSwapFailed?.(r.target.role, version, err);
      return;
    }
    if (this.#closed || r.wanted !== version) {
      await loaded.model.close();
      return;
    }
    r.slot.replace(this.#activate(loaded, r.target.alias));
    const record: SwapRecord = {
      pipeline: this.name,
      role: r.target.role,
      from,
      to: version,
      loadMs: Math.round(performance.now() - started),
      sinceMoveMs: Number.isFinite(Date.parse(movedAt)) ? Date.now() - Date.parse(movedAt) : undefined,
    };
    this.#opts.logger.info(
      { ...record, alias: r.target.alias, sha256: loaded.info.sha256 },
      `Model ${this.#opts.pipeline.spec.model.name} ${r.target.role}: version ${from ?? '(none)'} → ${version} (from the next batch).`,
    );
    this.#opts.onSwap?.(record);
  }

  /** Every version writes the same columns: an output whose type changed (float → int) is refused. */
  #checkFieldTypes(v: LoadedVersion): void {
    const established = this.#roles.get('primary')?.slot.current?.model.fieldTypes;
    if (established === undefined) return;
    const text = (t: { name: string; type: string }[]) => t.map((f) => `${f.name}: ${f.type}`).join(', ');
    if (text(v.model.fieldTypes) !== text(established)) {
      throw new ModelError(
        'MODEL_SIGNATURE_MISMATCH',
        v.model.path,
        `its prediction fields are (${text(v.model.fieldTypes)}), the pipeline writes (${text(established)})`,
      );
    }
  }

  #applySuspension(s: ControlState | undefined): void {
    const state = s?.pipelines.get(this.name);
    const was = this.gate.suspended;
    if (state?.suspended) {
      this.gate.suspend({ by: state.by, reason: state.reason, at: state.at });
      if (!was) {
        this.#opts.logger.warn(
          { pipeline: this.name, by: state.by, reason: state.reason, at: state.at },
          'Pipeline suspended: no prediction is written until it is resumed (offsets are kept).',
        );
      }
    } else if (was) {
      this.gate.resume();
      this.#opts.logger.info(
        { pipeline: this.name, by: state?.by, reason: state?.reason },
        'Pipeline resumed.',
      );
    }
  }

  /** Prediction fields, the same for every version (each is checked against the pipeline's outputs). */
  get outputFields(): readonly string[] {
    return Object.keys(this.#opts.pipeline.spec.model.outputs);
  }

  /** The versions one batch scores with (the runtime's ModelSource). */
  lease(): ModelLease {
    const primary = this.#leased('primary');
    if (primary === undefined) throw new Error(`pipeline ${this.name} has no primary model`);
    return {
      primary,
      shadow: this.#leased('shadow'),
      canary: this.#leased('canary'),
      canaryPercent: this.canaryPercent,
    };
  }

  waitOpen(onWait?: () => Promise<void>): Promise<void> {
    return this.gate.waitOpen(onWait);
  }

  #leased(role: ModelRole): LeasedModel | undefined {
    const got = this.#roles.get(role)?.slot.acquire();
    return got && { info: got.active.info, predictor: got.active.batcher, release: got.release };
  }

  /** Wait for pending swaps (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#roles.values()].map((r) => r.loading));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    this.gate.resume();
    await this.settled();
    for (const r of this.#roles.values()) await r.slot.close();
  }
}
