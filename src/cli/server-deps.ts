// Wires the server's audit log and DLP filter from the config.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CliError, EXIT } from './output.js';
import { AuditLog } from '../audit/log.js';
import { ensureKeyFile, loadKey } from '../audit/chain.js';
import type { ResolvedConfig } from '../config/load.js';
import type { AuditRecorder } from '../server/context.js';
import type { OutputFilter } from '../server/exec.js';
import { fromConfig } from '../dlp/redactor.js';
import { StreamRedactor } from '../dlp/stream.js';

/**
 * The audit log: JSONL plus the SQLite index, HMAC-chained. agentsh chains only when
 * audit.integrity is enabled; we always chain, with a generated key file beside the log
 * (0600) when none is configured.
 */
export function auditPaths(config: ResolvedConfig): { path: string; sqlitePath: string; keyFile: string } {
  const sqlitePath = config.audit.storage.sqlite_path;
  const path = config.audit.output && config.audit.output.startsWith('/') ? config.audit.output : join(dirname(sqlitePath), 'events.jsonl');
  return { path, sqlitePath, keyFile: join(dirname(path), 'audit.key') };
}

export async function openAudit(config: ResolvedConfig): Promise<AuditRecorder & { close(): Promise<void> }> {
  const { path, sqlitePath, keyFile } = auditPaths(config);
  const integrity = config.audit.integrity;
  let log: AuditLog;
  let failed: string | null = null;
  const failureHandlers: Array<(message: string) => void> = [];
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const key = integrity.enabled ? loadKey(integrity) : ensureKeyFile(keyFile);
    log = await AuditLog.open({
      path,
      sqlitePath,
      key,
      algorithm: integrity.algorithm === 'hmac-sha512' ? 'hmac-sha512' : 'hmac-sha256',
      onFailure: (err) => {
        failed = err.message;
        for (const h of failureHandlers) h(err.message);
      },
    });
  } catch (err) {
    throw new CliError(`cannot open the audit log ${path}: ${(err as Error).message}`, EXIT.failed);
  }
  return {
    record: (e) => void log.enqueue({ ...e, fields: e.fields ?? {} }),
    flush: () => log.flushToFile(),
    query: (f) => log.query({ ...f, order: 'desc' }).reverse(), // the newest `limit`, oldest first
    subscribe: (f, cb) => log.subscribe(f, (ev) => cb(ev)),
    failure: () => failed,
    onFailure: (cb) => void failureHandlers.push(cb),
    close: () => log.close(),
  };
}

/**
 * DLP for the server: one redactor for its lifetime (patterns compiled once), a fresh stream
 * state per output stream, and one-shot redaction for text that goes into audit events.
 * `dlp.mode`: redact and block redact command output (output already produced cannot be
 * refused); audit passes it through unchanged. Text written to the audit log is redacted in
 * every mode but disabled: the log must not become a store of the secrets it reports.
 */
export function dlpForServer(config: ResolvedConfig): { outputFilter: () => OutputFilter | null; redactText: (s: string) => string } {
  const redactor = fromConfig(config.dlp);
  const forAudit = redactor?.withMode('redact') ?? null;
  return {
    outputFilter: () => (redactor ? new StreamRedactor(redactor) : null),
    redactText: (s) => (forAudit ? forAudit.redact(s).text : s),
  };
}
