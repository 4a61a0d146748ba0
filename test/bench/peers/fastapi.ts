/**
 * The FastAPI peer of the API scenario (test/bench/peers/fastapi/app.py): its venv is
 * .bench/venv-api, created from requirements.txt (PyPI) when missing or incomplete.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const VENV = resolve('.bench/venv-api');
const PY = `${VENV}/bin/python`;
const REQUIREMENTS = 'test/bench/peers/fastapi/requirements.txt';

/** The venv's python, creating the venv when needed; a reason when it cannot be had. */
export function ensureVenv(): { python: string } | { reason: string } {
  const complete = () =>
    existsSync(PY) &&
    spawnSync(PY, ['-c', 'import fastapi, uvicorn, uvloop, httptools, onnxruntime, numpy'], { encoding: 'utf8' })
      .status === 0;
  if (complete()) return { python: PY };
  if (!existsSync(PY)) {
    const mk = spawnSync('python3', ['-m', 'venv', VENV], { encoding: 'utf8' });
    if (mk.status !== 0) return { reason: `python3 -m venv ${VENV} failed: ${mk.stderr.slice(0, 300)}` };
  }
  const pip = spawnSync(`${VENV}/bin/pip`, ['install', '-q', '-r', REQUIREMENTS], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (pip.status !== 0 || !complete()) {
    return { reason: `pip install -r ${REQUIREMENTS} failed: ${(pip.stderr || pip.stdout || '').slice(-400)}` };
  }
  return { python: PY };
}
