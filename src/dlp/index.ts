// DLP: detectors, one-shot and streaming redaction of command output.
export {
  BUILTIN_GROUPS, builtinDetectors, customDetectors, enabledBuiltins, luhnValid,
  type BuiltinGroup, type CustomPatternConfig, type Detector, type PatternToggles, type Validator,
} from './patterns.js';
export { DEFAULT_MAX_MATCH_BYTES, DlpConfigError, Redactor, fromConfig, type DlpConfigLike, type Finding, type ScannerOptions } from './redactor.js';
export { RedactStream, StreamRedactor, createRedactStream, type RedactStreamOptions } from './stream.js';
