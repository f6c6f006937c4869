// Worker thread that writes audit batches into the SQLite index, so the server's event
// loop never waits for a large SQLite transaction. Protocol (see IndexWorker in log.ts):
//   in:  { op: 'insert', id, firstSeq, text }   text = the batch's JSONL lines, '\n'-ended;
//                                                 sequences are consecutive from firstSeq
//        { op: 'close' }
//   out: { id, ok: true } | { id, ok: false, error, code } | { op: 'closed' }
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

interface Init {
  sqlitePath: string;
}

const port = parentPort;
if (!port) throw new Error('index-worker must run as a worker thread');
const { sqlitePath } = workerData as Init;
const db = new Database(sqlitePath);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
db.pragma('cache_size = -16384');
db.pragma('wal_autocheckpoint = 8192');
const ins = db.prepare('INSERT INTO events (seq, id, ts, type, session_id, command_id, decision, rule, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
const s = (v: unknown): string | null => (typeof v === 'string' ? v : null);

const insertText = db.transaction((firstSeq: number, text: string) => {
  let start = 0;
  let seq = firstSeq;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
    const line = text.slice(start, nl);
    start = nl + 1;
    const o = JSON.parse(line) as Record<string, unknown>;
    ins.run(seq++, String(o.id), String(o.ts), String(o.type), s(o.session_id), s(o.command_id), s(o.decision), s(o.rule), line);
  }
});

port.on('message', (m: { op: 'insert'; id: number; firstSeq: number; text: string } | { op: 'close' }) => {
  if (m.op === 'insert') {
    try {
      insertText(m.firstSeq, m.text);
      port.postMessage({ id: m.id, ok: true });
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, error: (e as Error).message, code: (e as { code?: string }).code });
    }
  } else if (m.op === 'close') {
    db.close();
    port.postMessage({ op: 'closed' });
    port.close();
  }
});
