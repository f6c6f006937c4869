// DLP: detectors, one-shot and streaming redaction (command output, LLM request bodies,
// audit events, proxy logs).
export {
  BUILTIN_DETECTOR_NAMES, BUILTIN_GROUPS, LOOKBEHIND, builtinDetectors, customDetectors, enabledBuiltins, luhnValid,
  type BuiltinGroup, type CustomPatternConfig, type Detector, type PatternToggles, type Validator,
} from './patterns.js';
export {
  DEFAULT_MAX_MATCH_BYTES, DlpConfigError, REDACTOR_MODES, Redactor, fromConfig,
  type DlpConfigLike, type DlpMode, type Finding, type RedactorOptions, type ScannerOptions,
} from './redactor.js';
export { RedactStream, StreamRedactor, createRedactStream, type RedactStreamOptions } from './stream.js';
export {
  base62, charClasses, crc32, githubChecksumValid, ibanValid, isPlaceholderValue, shannonEntropy, ssnValid, withGithubChecksum,
} from './validators.js';
