import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { errorMessage } from '../core/errors.js';
import { type Distributions, distributionsSchema } from '../drift/reference.js';
import { ModelError } from '../inference/errors.js';

/**
 * The model registry on disk: `<registryDir>/<name>/<version>/{model.onnx, manifest.yaml}`, as
 * tools/models/train.py writes it. The manifest's sha256 is the identity of a version: a file whose
 * hash differs is refused (MODEL_SHA_MISMATCH), whoever asks (CLI promote, worker load).
 */
export interface ModelVersionInfo {
  name: string;
  version: string;
  dir: string;
  onnxPath: string;
  manifestPath: string;
  /** sha256 of model.onnx as the manifest records it (lower-case hex). */
  sha256: string;
  created?: string;
  description?: string;
  /** Feature names of the first input, in order. */
  features?: string[];
  /** Features per row (the first input's shape[1]), when fixed. */
  inputWidth?: number;
  outputs: { name: string; type: string }[];
  sizeBytes?: number;
  /**
   * Per-feature reference values (training medians, by feature name): `streamscore explain`
   * replaces one feature at a time by its reference to attribute a score. Absent in older manifests.
   */
  reference?: Record<string, number>;
  /** Reference distributions of every feature and output (the drift monitor's); absent in older manifests. */
  distributions?: Distributions;
}

export const MANIFEST = 'manifest.yaml';
export const MODEL_FILE = 'model.onnx';

const text = z.union([z.string(), z.number()]).transform(String);
const manifestSchema = z.looseObject({
  name: text,
  version: text,
  description: z.string().optional(),
  created: z.union([z.string(), z.date().transform((d) => d.toISOString().slice(0, 10))]).optional(),
  inputs: z
    .array(
      z.looseObject({
        name: z.string().optional(),
        shape: z.array(z.union([z.number(), z.string(), z.null()])).optional(),
        features: z.array(z.string()).optional(),
      }),
    )
    .optional(),
  outputs: z.array(z.looseObject({ name: z.string(), type: z.string() })).default([]),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits')
    .transform((s) => s.toLowerCase()),
  size_bytes: z.number().int().nonnegative().optional(),
  reference: z.record(z.string(), z.number()).optional(),
  distributions: distributionsSchema.optional(),
});

/** Model names of the registry (directories), sorted. A missing registry has none. */
export function listModelNames(registryDir: string): string[] {
  return subdirs(registryDir).sort();
}

/** Every version of `name` that has a manifest, in numeric order (1, 2, 10); throws for an unknown name. */
export function listVersions(registryDir: string, name: string): ModelVersionInfo[] {
  const modelDir = join(registryDir, name);
  if (!isDir(modelDir)) {
    const names = listModelNames(registryDir);
    throw new ModelError(
      'MODEL_VERSION_UNKNOWN',
      modelDir,
      `the registry ${registryDir} has no model '${name}' (models there: ${names.length > 0 ? names.join(', ') : 'none'})`,
    );
  }
  return versionNames(modelDir).map((v) => readManifest(join(modelDir, v, MANIFEST), { name, version: v }));
}

/** One version's manifest; an unknown name or version is a MODEL_VERSION_UNKNOWN naming what exists. */
export function readVersion(registryDir: string, name: string, version: string): ModelVersionInfo {
  const modelDir = join(registryDir, name);
  const manifestPath = join(modelDir, version, MANIFEST);
  if (!existsSync(manifestPath)) {
    listVersions(registryDir, name); // throws for an unknown model name
    const versions = versionNames(modelDir);
    throw new ModelError(
      'MODEL_VERSION_UNKNOWN',
      join(modelDir, version),
      `no version '${version}' of model '${name}' (expected ${manifestPath}); versions there: ${versions.length > 0 ? versions.join(', ') : 'none'}`,
    );
  }
  return readManifest(manifestPath, { name, version });
}

/**
 * The sha256 (hex) of `onnxPath`, which must equal `expectedSha256`: anything else is a corrupted or
 * replaced file, refused with MODEL_SHA_MISMATCH. Model files are small (tens of kB to a few MB).
 */
export function verifyModelFile(onnxPath: string, expectedSha256: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(onnxPath);
  } catch (err) {
    throw new ModelError('MODEL_NOT_FOUND', onnxPath, `cannot read the model file: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  const expected = expectedSha256.toLowerCase();
  if (actual !== expected) {
    const manifest = join(dirname(onnxPath), MANIFEST);
    throw new ModelError(
      'MODEL_SHA_MISMATCH',
      onnxPath,
      `sha256 is ${actual} (${bytes.length} bytes), ${manifest} says ${expected}: the file is corrupted or was replaced; refusing to use it`,
      { context: { expected, actual } },
    );
  }
  return actual;
}

/** Verifies a version's model.onnx against its manifest; returns the sha256. */
export function verifyVersion(info: ModelVersionInfo): string {
  return verifyModelFile(info.onnxPath, info.sha256);
}

/** The manifest.yaml next to a model file, if there is one (a pipeline naming a registry file by path). */
export function manifestBeside(onnxPath: string): ModelVersionInfo | undefined {
  const manifestPath = join(dirname(resolve(onnxPath)), MANIFEST);
  if (!existsSync(manifestPath)) return undefined;
  return readManifest(manifestPath, undefined, resolve(onnxPath));
}

/** The first 12 hex digits, for listings. */
export function shortSha(sha256: string): string {
  return sha256.slice(0, 12);
}

function readManifest(
  manifestPath: string,
  expect: { name: string; version: string } | undefined,
  onnxPath = join(dirname(manifestPath), MODEL_FILE),
): ModelVersionInfo {
  let raw: unknown;
  try {
    raw = parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new ModelError(
      'MODEL_LOAD_FAILED',
      manifestPath,
      `cannot read the manifest: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new ModelError('MODEL_LOAD_FAILED', manifestPath, `invalid manifest: ${issues}`);
  }
  const m = parsed.data;
  if (expect && (m.name !== expect.name || m.version !== expect.version)) {
    throw new ModelError(
      'MODEL_LOAD_FAILED',
      manifestPath,
      `the manifest says ${m.name}/${m.version} but lies in the directory of ${expect.name}/${expect.version}`,
    );
  }
  const input = m.inputs?.[0];
  const width = input?.shape?.[1];
  return {
    name: m.name,
    version: m.version,
    dir: dirname(manifestPath),
    onnxPath,
    manifestPath,
    sha256: m.sha256,
    ...(m.created !== undefined ? { created: m.created } : {}),
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(input?.features ? { features: input.features } : {}),
    ...(typeof width === 'number' ? { inputWidth: width } : {}),
    outputs: m.outputs.map((o) => ({ name: o.name, type: o.type })),
    ...(m.size_bytes !== undefined ? { sizeBytes: m.size_bytes } : {}),
    ...(m.reference !== undefined ? { reference: m.reference } : {}),
    ...(m.distributions !== undefined ? { distributions: m.distributions } : {}),
  };
}

/** Version directories (those with a manifest) in numeric order. */
function versionNames(modelDir: string): string[] {
  return subdirs(modelDir)
    .filter((v) => existsSync(join(modelDir, v, MANIFEST)))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

function subdirs(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => !n.startsWith('.') && isDir(join(dir, n)));
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
