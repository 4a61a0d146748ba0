// Run by test/run.mjs before the stack suites: puts the local stack in the state the example
// pipelines need (their model aliases set on the control topic), as `make demo` does.
import { ensureAliases } from './aliases.js';

await ensureAliases();
