import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

/**
 * Dependencies whose install scripts `ignore-scripts` (.npmrc) skips, each checked to work without
 * it: esbuild and msgpackr-extract load their prebuilt binaries from their platform packages,
 * protobufjs' script only checks versions, onnxruntime-node's would download CUDA libraries (the
 * CPU build is bundled). A new dependency with an install script fails the test below until it is
 * checked and added here.
 */
const CHECKED = new Map([
  ['esbuild', 'binary from @esbuild/<platform>'],
  ['msgpackr-extract', 'prebuilt binary from @msgpackr-extract/<platform>'],
  ['onnxruntime-node', 'CPU binaries bundled; the script downloads CUDA libraries'],
  ['protobufjs', 'version check only'],
]);

function npm(args: string[]): string {
  return execFileSync('npm', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

describe('supply chain', () => {
  test('.npmrc runs no dependency install scripts', () => {
    const rc = readFileSync('.npmrc', 'utf8');
    assert.match(rc, /^ignore-scripts=true$/m);
  });

  test('every installed package with an install script is one checked to work without it', () => {
    const found = JSON.parse(
      npm([
        'query',
        ':attr(scripts, [preinstall]), :attr(scripts, [install]), :attr(scripts, [postinstall])',
      ]),
    ) as { name: string }[];
    const unchecked = [...new Set(found.map((p) => p.name))].filter((n) => !CHECKED.has(n));
    assert.deepEqual(unchecked, [], `install scripts not checked: ${unchecked.join(', ')}`);
  });

  test('the SBOM (npm sbom, CycloneDX) lists every production dependency', () => {
    const sbom = JSON.parse(npm(['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev'])) as {
      bomFormat: string;
      components: { name: string; version: string }[];
    };
    assert.equal(sbom.bomFormat, 'CycloneDX');
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    const names = new Set(sbom.components.map((c) => c.name));
    const missing = Object.keys(pkg.dependencies).filter((d) => !names.has(d));
    assert.deepEqual(missing, []);
  });
});
