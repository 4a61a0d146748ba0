#!/usr/bin/env node
// Strict, standalone JSON Schemas for kubeconform, generated offline:
//   - every kind of a Kubernetes release from its OpenAPI v2 document (api/openapi-spec/swagger.json
//     in the k8s.io/kubernetes module source), and
//   - every version of the given CustomResourceDefinitions (KEDA's, the Prometheus Operator's), with
//     the release's ObjectMeta as their metadata.
// "Strict": an object that lists its properties accepts no other (a misspelt field fails), unless
// the API says it keeps unknown fields. "Standalone": references are inlined, so each file is one
// kind. Written as <out>/<group, or the version for the core group>/<kind>_<version>.json, for
// kubeconform's -schema-location '<out>/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'.
//
// node tools/k8s/json-schemas.mjs --swagger <swagger.json> --out <dir> [--crd <crd.yaml>]...
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

function args(argv) {
  const out = { crd: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k}: expected a value`);
    if (k === '--swagger') out.swagger = v;
    else if (k === '--out') out.out = v;
    else if (k === '--crd') out.crd.push(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!out.swagger || !out.out) throw new Error('usage: --swagger <swagger.json> --out <dir> [--crd <file>]...');
  return out;
}

const INT_OR_STRING = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
/** Quantities are strings in the API, and numbers in YAML people write (`cpu: 1`). */
const QUANTITY = { oneOf: [{ type: 'string' }, { type: 'number' }] };

/** Inlines `#/definitions/…` references of the OpenAPI v2 document; a cycle becomes `{}`. */
function inliner(definitions) {
  const resolve = (schema, stack) => {
    if (Array.isArray(schema)) return schema.map((s) => resolve(s, stack));
    if (schema === null || typeof schema !== 'object') return schema;
    if (typeof schema.$ref === 'string') {
      const name = schema.$ref.replace('#/definitions/', '');
      if (name === 'io.k8s.apimachinery.pkg.util.intstr.IntOrString') return INT_OR_STRING;
      if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') return QUANTITY;
      if (stack.includes(name)) return {};
      const target = definitions[name];
      if (target === undefined) throw new Error(`unresolved reference ${schema.$ref}`);
      return resolve(target, [...stack, name]);
    }
    const out = {};
    for (const [k, v] of Object.entries(schema)) {
      if (k === 'properties' || k === 'patternProperties') {
        out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, resolve(s, stack)]));
      } else if (k === 'items' || k === 'additionalProperties' || k === 'not') {
        out[k] = typeof v === 'boolean' ? v : resolve(v, stack);
      } else if (k === 'allOf' || k === 'anyOf' || k === 'oneOf') {
        out[k] = v.map((s) => resolve(s, stack));
      } else out[k] = v;
    }
    return out;
  };
  return resolve;
}

/**
 * Makes a schema strict and plain JSON Schema: objects with properties accept no others (unless
 * x-kubernetes-preserve-unknown-fields), x-kubernetes-int-or-string is string or integer, nullable
 * adds null. Descriptions are dropped (size).
 */
function strict(schema) {
  if (Array.isArray(schema)) return schema.map(strict);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'description') continue;
    if (k === 'properties' || k === 'patternProperties') {
      out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strict(s)]));
    } else if (k === 'items' || k === 'additionalProperties' || k === 'not') {
      out[k] = typeof v === 'boolean' ? v : strict(v);
    } else if (k === 'allOf' || k === 'anyOf' || k === 'oneOf') {
      out[k] = v.map(strict);
    } else out[k] = v;
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    if (!out.anyOf && !out.oneOf) out.oneOf = INT_OR_STRING.oneOf;
  }
  if (out.format === 'int-or-string') {
    delete out.type;
    delete out.format;
    out.oneOf = INT_OR_STRING.oneOf;
  }
  if (out.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  delete out.nullable;
  const open = out['x-kubernetes-preserve-unknown-fields'] === true;
  if (out.properties !== undefined && out.additionalProperties === undefined && !open) {
    out.additionalProperties = false;
  }
  return out;
}

/** The top of a kind's schema: its apiVersion and kind are those values only. */
function pinKind(schema, group, version, kind) {
  const apiVersion = group === '' ? version : `${group}/${version}`;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...schema,
    properties: {
      ...schema.properties,
      apiVersion: { type: 'string', enum: [apiVersion] },
      kind: { type: 'string', enum: [kind] },
    },
    required: [...new Set([...(schema.required ?? []), 'apiVersion', 'kind'])],
  };
}

function write(out, group, version, kind, schema) {
  const dir = join(out, group === '' ? version : group);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${kind.toLowerCase()}_${version}.json`);
  writeFileSync(file, JSON.stringify(schema));
  return file;
}

const opts = args(process.argv.slice(2));
const swagger = JSON.parse(readFileSync(opts.swagger, 'utf8'));
const definitions = swagger.definitions;
const inline = inliner(definitions);
let kinds = 0;
for (const [name, def] of Object.entries(definitions)) {
  for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
    // The List and event wrappers (watch events, DeleteOptions) are written for every group.
    if (name.startsWith('io.k8s.apimachinery.pkg.apis.meta.v1.')) continue;
    write(opts.out, gvk.group, gvk.version, gvk.kind, pinKind(strict(inline(def, [name])), gvk.group, gvk.version, gvk.kind));
    kinds += 1;
  }
}

const objectMeta = strict(inline(definitions['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'], []));
let crdKinds = 0;
for (const file of opts.crd) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS();
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    const { group, names, versions } = crd.spec;
    for (const v of versions) {
      const schema = strict(v.schema?.openAPIV3Schema ?? { type: 'object' });
      schema.properties = { ...schema.properties, metadata: objectMeta };
      write(opts.out, group, v.name, names.kind, pinKind(schema, group, v.name, names.kind));
      crdKinds += 1;
    }
  }
}
process.stdout.write(`${kinds} Kubernetes kinds and ${crdKinds} custom resource kinds written to ${opts.out}\n`);
