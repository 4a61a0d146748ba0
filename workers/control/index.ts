/** The control topic: alias moves and pipeline suspensions, folded into the state every worker follows. */
export {
  type AliasEvent,
  type AliasState,
  aliasKey,
  applyControlEvent,
  type ControlEvent,
  type ControlState,
  controlRecordKey,
  currentSince,
  defaultActor,
  emptyControlState,
  eventStamp,
  type PipelineEvent,
  type PipelineState,
  parseControlEvent,
  previousTarget,
} from './events.js';
export {
  appendControlEvent,
  CONTROL_TOPIC_CONFIG,
  DEFAULT_CONTROL_TOPIC,
  ensureControlTopic,
} from './topic.js';
export {
  type ControlListener,
  type ControlRecordMeta,
  ControlWatcher,
  type ControlWatcherOptions,
  readControlState,
} from './watcher.js';
