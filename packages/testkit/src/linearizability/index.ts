export { checkLinearizability, type LinearizabilityOptions } from './checker.js';
export {
  type CompletedOperation,
  describeOperation,
  HistoryError,
  type IndefiniteOperation,
  type KvCall,
  type KvHistory,
  type KvOperation,
  type KvOutput,
  type KvValue,
  type NotAppliedOperation,
} from './history.js';
export { HistoryRecorder, type PendingOperation } from './recorder.js';
export type {
  KeyCheck,
  LinearizabilityResult,
  OperationRef,
  Verdict,
  Violation,
} from './result.js';
