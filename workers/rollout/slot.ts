import type { ModelInfo } from '../core/types.js';
import type { ModelBatcher, OnnxModel } from '../inference/index.js';

/** One loaded model version with its micro-batcher: what a batch scores with. */
export interface ActiveModel {
  info: ModelInfo;
  model: OnnxModel;
  batcher: ModelBatcher;
}

interface Entry {
  active: ActiveModel;
  users: number;
  retired: boolean;
}

/**
 * The model version a role (primary, shadow, canary) currently uses. A batch `acquire`s the
 * current version and `release`s it when written, so a swap takes effect at the next batch boundary:
 * a batch never mixes versions. A replaced version is closed once its last batch is done.
 */
export class ModelSlot {
  #entry: Entry | undefined;
  readonly #closing: Promise<void>[] = [];

  constructor(active?: ActiveModel) {
    if (active) this.#entry = { active, users: 0, retired: false };
  }

  /** The version new batches get, if any (a shadow or canary alias may not be set yet). */
  get current(): ActiveModel | undefined {
    return this.#entry?.active;
  }

  /** The current version for one batch; call the returned release when the batch is done. */
  acquire(): { active: ActiveModel; release: () => void } | undefined {
    const e = this.#entry;
    if (e === undefined) return undefined;
    e.users++;
    let released = false;
    return {
      active: e.active,
      release: () => {
        if (released) return;
        released = true;
        e.users--;
        if (e.retired && e.users === 0) this.#retire(e);
      },
    };
  }

  /** Make `next` current; the previous version is closed after the batches using it are done. */
  replace(next: ActiveModel | undefined): void {
    const prev = this.#entry;
    this.#entry = next ? { active: next, users: 0, retired: false } : undefined;
    if (prev) {
      prev.retired = true;
      if (prev.users === 0) this.#retire(prev);
    }
  }

  #retire(e: Entry): void {
    this.#closing.push(
      e.active.batcher
        .close()
        .then(() => e.active.model.close())
        .catch(() => undefined),
    );
  }

  /** Close the current version and wait for retired ones. */
  async close(): Promise<void> {
    this.replace(undefined);
    await Promise.all(this.#closing);
  }
}
