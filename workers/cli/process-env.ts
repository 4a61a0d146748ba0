/**
 * Process-wide settings that must be in place before any dependency is loaded: imported first by
 * the CLI entry (ESM evaluates imports in order), so they hold for every command and for the worker
 * processes a fleet forks (they inherit the environment).
 *
 * The AWS SDK (loaded by snowflake-sdk) warns on every start that its versions published after
 * January 2027 will need Node 22. streamscore runs on Node ≥ 20 (package.json engines) and pins its
 * SDK through package-lock.json; the README says so. The notice is quieted unless the user set the
 * variable themselves.
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

// kafkajs' producer, grouping a send's messages in one pass (see core/kafkajs-grouping.ts),
// checksumming record batches with a faster CRC-32C (core/kafkajs-crc32c.ts) and encoding into
// pooled buffers (core/kafkajs-encoder.ts); must load before kafkajs does.
import '../core/kafkajs-grouping.js';
import '../core/kafkajs-crc32c.js';
import '../core/kafkajs-encoder.js';
