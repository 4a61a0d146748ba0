import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { errorMessage } from '../core/errors.js';
import { ModelError } from './errors.js';
import { type ExternalDataRef, externalDataRefs, unsafeLocation } from './external-data.js';
import { type OnnxModelInfo, prepareModel } from './onnx-graph.js';

export interface SessionOptions {
  /** Threads of one operator; 1 keeps one core per model and lets partitions scale out. Default 1. */
  intraOpNumThreads?: number;
  /** Threads across independent operators (parallel execution only). Default 1. */
  interOpNumThreads?: number;
  /** Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** One onnxruntime session over one model file, shared by every pipeline of the process that uses it. */
export interface LoadedSession {
  /** The path as the caller gave it (used in messages). */
  readonly path: string;
  readonly version: string | undefined;
  readonly session: InferenceSession;
  /** sha256 of the file on disk (before any load-time rewrite). */
  readonly sha256: string;
  readonly info: OnnxModelInfo;
}

export interface LoadOptions {
  /** The version the pipeline declares; part of the cache key. */
  version?: string | number;
  session?: SessionOptions;
  /**
   * The sha256 the file must have (its manifest's). Checked on the very bytes that are loaded, so a
   * file replaced after a check cannot slip in; a mismatch is ModelError MODEL_SHA_MISMATCH.
   */
  expectedSha256?: string;
}

export interface ModelRegistryOptions {
  /** Defaults for every session this registry creates. */
  session?: SessionOptions;
  /** Reads a model file; tests inject failures here. Default fs.readFile. */
  readFile?: (path: string) => Promise<Uint8Array>;
}

interface Entry {
  readonly promise: Promise<LoadedSession>;
  refs: number;
}

function ortOptions(o: Required<SessionOptions>): InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: o.intraOpNumThreads,
    interOpNumThreads: o.interOpNumThreads,
    graphOptimizationLevel: o.graphOptimizationLevel,
    executionMode: 'sequential',
    executionProviders: ['cpu'],
  };
}

/**
 * Creates and caches onnxruntime sessions: one per (resolved path, version, session options) per
 * registry. The caller creates one registry per process and passes it to every `OnnxModel.load`.
 * `acquire` is reference counted; the session is released when its last user calls `release`.
 * Concurrent acquires of the same model share one load.
 */
export class ModelRegistry {
  readonly #defaults: Required<SessionOptions>;
  readonly #readFile: ((path: string) => Promise<Uint8Array>) | undefined;
  readonly #entries = new Map<string, Entry>();

  constructor(options: ModelRegistryOptions = {}) {
    this.#defaults = {
      intraOpNumThreads: options.session?.intraOpNumThreads ?? 1,
      interOpNumThreads: options.session?.interOpNumThreads ?? 1,
      graphOptimizationLevel: options.session?.graphOptimizationLevel ?? 'all',
    };
    this.#readFile = options.readFile;
  }

  /** Number of distinct sessions held. */
  get size(): number {
    return this.#entries.size;
  }

  acquire(path: string, options: LoadOptions = {}): Promise<LoadedSession> {
    const session = { ...this.#defaults, ...definedOnly(options.session) };
    const version = options.version === undefined ? undefined : String(options.version);
    const key = cacheKey(path, version, session);
    const existing = this.#entries.get(key);
    if (existing !== undefined) {
      existing.refs++;
      return existing.promise;
    }
    const promise = createSession(path, version, session, this.#readFile, options.expectedSha256);
    const entry: Entry = { promise, refs: 1 };
    this.#entries.set(key, entry);
    // A failed load is not cached: the next acquire tries again.
    promise.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    return promise;
  }

  /** Drop one reference; the session is released when none is left. */
  async release(loaded: LoadedSession, options: LoadOptions = {}): Promise<void> {
    const session = { ...this.#defaults, ...definedOnly(options.session) };
    const key = cacheKey(loaded.path, loaded.version, session);
    const entry = this.#entries.get(key);
    if (entry === undefined || --entry.refs > 0) return;
    this.#entries.delete(key);
    await loaded.session.release();
  }

  /** Release every session, whatever its reference count. */
  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    const loaded = await Promise.allSettled(entries.map((e) => e.promise));
    await Promise.all(loaded.map((r) => (r.status === 'fulfilled' ? r.value.session.release() : undefined)));
  }
}

function definedOnly(o: SessionOptions | undefined): SessionOptions {
  const out: SessionOptions = {};
  if (o?.intraOpNumThreads !== undefined) out.intraOpNumThreads = o.intraOpNumThreads;
  if (o?.interOpNumThreads !== undefined) out.interOpNumThreads = o.interOpNumThreads;
  if (o?.graphOptimizationLevel !== undefined) out.graphOptimizationLevel = o.graphOptimizationLevel;
  return out;
}

function cacheKey(path: string, version: string | undefined, o: Required<SessionOptions>): string {
  return JSON.stringify([
    resolve(path),
    version ?? null,
    o.intraOpNumThreads,
    o.interOpNumThreads,
    o.graphOptimizationLevel,
  ]);
}

async function createSession(
  path: string,
  version: string | undefined,
  options: Required<SessionOptions>,
  read: ((path: string) => Promise<Uint8Array>) | undefined,
  expectedSha256: string | undefined,
): Promise<LoadedSession> {
  let bytes: Uint8Array;
  try {
    bytes = await (read ?? readFile)(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'file not found' : `cannot read the file (${errorMessage(err)})`;
    throw new ModelError('MODEL_NOT_FOUND', path, `${why}; expected an ONNX model at ${resolve(path)}`, {
      cause: err,
    });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
    throw new ModelError(
      'MODEL_SHA_MISMATCH',
      path,
      `the file's sha256 is ${sha256}, its manifest says ${expectedSha256}: the file is corrupted or was replaced; refusing to load it`,
    );
  }
  let prepared: ReturnType<typeof prepareModel>;
  try {
    prepared = prepareModel(bytes);
    refuseOutsideData(path, externalDataRefs(bytes));
  } catch (err) {
    if (ModelError.is(err)) throw err;
    throw new ModelError('MODEL_LOAD_FAILED', path, `not an ONNX model (${errorMessage(err)})`, {
      cause: err,
    });
  }
  let session: InferenceSession;
  try {
    // Unchanged models load from their path, so onnxruntime finds external data files beside them.
    session =
      prepared.bytes === bytes && read === undefined
        ? await InferenceSession.create(path, ortOptions(options))
        : await InferenceSession.create(prepared.bytes, ortOptions(options));
  } catch (err) {
    throw new ModelError('MODEL_LOAD_FAILED', path, `onnxruntime cannot load it: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return { path, version, session, sha256, info: prepared.info };
}

/** A tensor whose external data lies outside the model's folder refuses the whole model. */
function refuseOutsideData(path: string, refs: readonly ExternalDataRef[]): void {
  for (const r of refs) {
    const why = unsafeLocation(r.location);
    if (why === undefined) continue;
    throw new ModelError(
      'MODEL_EXTERNAL_DATA_REFUSED',
      path,
      `tensor '${r.tensor}' keeps its data in ${JSON.stringify(r.location)}, ${why}: external data must be a relative path inside the model's folder; refusing to load it`,
    );
  }
}
