// Audit: events, the HMAC chain (agentsh-compatible), the JSONL + SQLite log, reports.
export * from './event.js';
export * from './chain.js';
export * from './log.js';
export * from './report.js';
export { canonicalJson, parseJson, parseJsonObject, JsonNumber, JsonSyntaxError } from './canonical.js';
