import type { Logger } from './types.js';

/** A logger that drops everything (plan, tests). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
