// The console's event store: every event seen (backfill + live stream), oldest first,
// de-duplicated by id, capped (the oldest go first), and the filtered view the list shows.
// Appending is O(new events); a filter change rebuilds the view in one pass.
import type { AuditEvent } from './api.js';

export const MAX_EVENTS = 50_000;

export const GROUPS = {
  all: 'All events',
  commands: 'Commands',
  denials: 'Denials only',
  files: 'Files',
  network: 'Network',
  llm: 'LLM calls',
  approvals: 'Approvals',
} as const;
export type Group = keyof typeof GROUPS;

export interface Filter {
  session: string; // '' = every session
  group: Group;
  text: string;
}

const DENIED_TYPES = new Set(['command_refused', 'file_delete_refused']);

export function isDenial(e: AuditEvent): boolean {
  return e.decision === 'deny' || DENIED_TYPES.has(e.type);
}

export function groupOf(type: string): Group | 'other' {
  if (type.startsWith('command_') || type === 'exec' || type === 'signal' || type === 'exec_unasked_mismatch') return 'commands';
  if (type.startsWith('file') || type.startsWith('trash_')) return 'files';
  if (type.startsWith('net_') || type.startsWith('dns_')) return 'network';
  if (type.startsWith('llm_')) return 'llm';
  if (type.startsWith('approval')) return 'approvals';
  return 'other';
}

// command_id → command line (command_finished and exec events carry only the id).
const commandText = new Map<string, string>();
function rememberCommand(e: AuditEvent): void {
  const c = e.fields?.command;
  if (!e.command_id || typeof c !== 'string' || commandText.has(e.command_id)) return;
  if (commandText.size >= MAX_EVENTS) commandText.clear();
  commandText.set(e.command_id, c);
}

const s = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** One line saying what happened: the command, the path, the host. */
export function summary(e: AuditEvent): string {
  const f = e.fields ?? {};
  switch (groupOf(e.type)) {
    case 'commands': {
      const cmd = s(f.command) || (e.command_id && e.type === 'command_finished' ? (commandText.get(e.command_id) ?? '') : '') || (Array.isArray(f.argv) ? (f.argv as unknown[]).map(s).join(' ') : '') || s(f.path);
      if (e.type === 'command_finished') return `${cmd} → exit ${s(f.exit_code) || '?'}${f.signal ? ` (${s(f.signal)})` : ''}${typeof f.duration_ms === 'number' ? ` in ${f.duration_ms} ms` : ''}`;
      if (e.type === 'signal') return `signal ${s(f.signal)} → ${s(f.relation) || s(f.target_pid)}`;
      return cmd || e.message || '';
    }
    case 'files':
      return [s(f.operation), s(f.path) || s(f.original_path), f.target ? `→ ${s(f.target)}` : ''].filter(Boolean).join(' ') || e.message || '';
    case 'network':
      if (e.type === 'dns_query') return `${s(f.name)} ${s(f.qtype)} ${s(f.rcode)}`.trim();
      return `${s(f.method) ? `${s(f.method)} ` : ''}${s(f.url) || `${s(f.host)}:${s(f.port)}`}${f.ip ? ` (${s(f.ip)})` : ''}`;
    case 'approvals':
      return `${s(f.kind)} ${s(f.target)}${f.outcome ? ` → ${s(f.outcome)}` : ''}`.trim() || e.message || '';
    case 'llm':
      return e.message || `${s(f.provider)} ${s(f.model)}`;
    default:
      return e.message || s(f.workspace) || '';
  }
}

const hay = new WeakMap<AuditEvent, string>();
function haystack(e: AuditEvent): string {
  let h = hay.get(e);
  if (h === undefined) {
    let fields = '';
    try {
      fields = JSON.stringify(e.fields ?? {}).slice(0, 4000);
    } catch {
      /* not serialisable: leave out */
    }
    h = `${e.type} ${e.decision ?? ''} ${e.rule ?? ''} ${e.session_id ?? ''} ${e.command_id ?? ''} ${summary(e)} ${e.message ?? ''} ${fields}`.toLowerCase();
    hay.set(e, h);
  }
  return h;
}

export function matches(e: AuditEvent, f: Filter): boolean {
  if (f.session && e.session_id !== f.session) return false;
  if (f.group === 'denials') {
    if (!isDenial(e)) return false;
  } else if (f.group !== 'all' && groupOf(e.type) !== f.group) return false;
  const t = f.text.trim().toLowerCase();
  if (t && !t.split(/\s+/).every((w) => haystack(e).includes(w))) return false;
  return true;
}

export class EventStore {
  /** Oldest first. */
  private all: AuditEvent[] = [];
  private readonly ids = new Set<string>();
  /** The filtered events, oldest first (the list shows them newest first). */
  view: AuditEvent[] = [];
  private filter: Filter = { session: '', group: 'all', text: '' };
  private readonly listeners = new Set<() => void>();
  /** Bumped on every change (components re-render on it). */
  version = 0;

  constructor(readonly cap = MAX_EVENTS) {}

  get size(): number {
    return this.all.length;
  }

  get newestTs(): string | undefined {
    return this.all[this.all.length - 1]?.ts;
  }

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  setFilter(f: Filter): void {
    this.filter = f;
    this.rebuild();
    this.changed();
  }

  /** Adds events (any order); returns those not seen before, in the order given. */
  add(events: AuditEvent[]): AuditEvent[] {
    const fresh: AuditEvent[] = [];
    for (const e of events) {
      if (!e || typeof e.id !== 'string' || this.ids.has(e.id)) continue;
      if (!e.fields || typeof e.fields !== 'object') e.fields = {};
      this.ids.add(e.id);
      rememberCommand(e);
      fresh.push(e);
    }
    if (!fresh.length) return fresh;
    const last = this.newestTs;
    const inOrder = fresh.every((e, i) => (i === 0 ? !last || e.ts >= last : e.ts >= fresh[i - 1]!.ts));
    if (inOrder) {
      // The live stream: append, and append what matches to the view.
      for (const e of fresh) {
        this.all.push(e);
        if (matches(e, this.filter)) this.view.push(e);
      }
    } else {
      // A backfill older than what the stream already brought: merge by time (stable).
      this.all.push(...fresh);
      this.all.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
      this.rebuild();
    }
    if (this.all.length > this.cap + Math.max(1, this.cap >> 4)) {
      const drop = this.all.splice(0, this.all.length - this.cap);
      for (const e of drop) this.ids.delete(e.id);
      this.rebuild();
    }
    this.changed();
    return fresh;
  }

  clear(): void {
    this.all = [];
    this.ids.clear();
    this.view = [];
    this.changed();
  }

  private rebuild(): void {
    const f = this.filter;
    this.view = f.session === '' && f.group === 'all' && !f.text.trim() ? this.all.slice() : this.all.filter((e) => matches(e, f));
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
}
