// The console: log in with the API token, then sessions on the side and, for the chosen
// session (or all), live events · approvals · trash · report · enforcement as tabs. The
// location's hash keeps the tab and the session (#approvals/SESSION), so links and reloads
// land where they were.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, get, post, setUnauthorisedHandler, type AuditEvent, type SessionInfo } from './api.js';
import { announce, LiveRegion } from './announce.js';
import { Approvals, type ApprovalsState } from './Approvals.js';
import { Enforcement } from './Enforcement.js';
import { Events } from './Events.js';
import { EventStore, isDenial, summary } from './events.js';
import { relative } from './format.js';
import { connectLive, type LiveStatus } from './live.js';
import { Report } from './Report.js';
import { Trash } from './Trash.js';

const TABS = [
  ['events', 'Live events'],
  ['approvals', 'Approvals'],
  ['trash', 'Trash'],
  ['report', 'Report'],
  ['enforcement', 'Enforcement'],
] as const;
type Tab = (typeof TABS)[number][0];

const BACKFILL = 5000;

function readHash(): { tab: Tab; session: string } {
  const [t = '', s = ''] = location.hash.replace(/^#\/?/, '').split('/');
  const tab = (TABS.find(([k]) => k === t)?.[0] ?? 'events') as Tab;
  let session = '';
  try {
    session = decodeURIComponent(s);
  } catch {
    session = '';
  }
  return { tab, session };
}

export function App() {
  const [auth, setAuth] = useState<'checking' | 'in' | 'out'>('checking');
  useEffect(() => {
    setUnauthorisedHandler(() => setAuth('out'));
    get.sessions().then(
      () => setAuth('in'),
      (err: unknown) => setAuth(err instanceof ApiError && err.status === 401 ? 'out' : 'in'),
    );
  }, []);
  return (
    <>
      <LiveRegion />
      {auth === 'checking' && <p class="splash">Connecting…</p>}
      {auth === 'out' && <Login onIn={() => setAuth('in')} />}
      {auth === 'in' && <Console onOut={() => setAuth('out')} />}
    </>
  );
}

function Login(p: { onIn(): void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await post.login(token.trim());
      setToken('');
      p.onIn();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That is not the API token of this server.' : (err as Error).message);
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>agentsh console</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" spellcheck={false} required value={token} onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} aria-describedby="token-help" />
        <p id="token-help" class="hint">
          The token is in the server's run directory, file <code>api.token</code> (readable by the operator only); <code>agentsh console</code> prints where.
        </p>
        <button type="submit" disabled={busy || !token.trim()}>
          Log in
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function Console(p: { onOut(): void }) {
  const store = useMemo(() => new EventStore(), []);
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const [sessions, setSessions] = useState<SessionInfo[]>([]);
  const [approvals, setApprovals] = useState<ApprovalsState>({ kind: 'loading' });
  const [trashChanged, setTrashChanged] = useState(0);
  const [route, setRoute] = useState(readHash);
  const [now, setNow] = useState(Date.now());
  const { tab, session } = route;

  const go = useCallback((tab: Tab, session: string) => {
    const h = `#${tab}${session ? `/${encodeURIComponent(session)}` : ''}`;
    if (location.hash !== h) history.replaceState(null, '', h);
    setRoute({ tab, session });
  }, []);
  useEffect(() => {
    const on = () => setRoute(readHash());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);

  const loadSessions = useCallback(() => get.sessions().then(setSessions, () => {}), []);
  const loadApprovals = useCallback(
    () =>
      get.approvals().then(
        (list) => setApprovals({ kind: 'ok', list }),
        (err: unknown) =>
          setApprovals(
            err instanceof ApiError && err.status === 404
              ? { kind: 'unavailable', message: 'This server has no approvals API.' }
              : err instanceof ApiError && err.status === 409 // approvals.enabled is false: the server says so
                ? { kind: 'unavailable', message: err.message }
                : { kind: 'error', message: (err as Error).message },
          ),
      ),
    [],
  );

  // Refreshes driven by events, coalesced.
  const pendingRefresh = useRef({ sessions: false, approvals: false, timer: 0 as ReturnType<typeof setTimeout> | 0 });
  const sessionRef = useRef(session);
  sessionRef.current = session;

  useEffect(() => store.subscribe(() => setVersion(store.version)), [store]);
  useEffect(() => {
    const since = Date.now() - 2000;
    const stop = connectLive({
      store,
      backfill: BACKFILL,
      onStatus: setStatus,
      onRefused: () => void get.sessions().catch(() => {}),
      onEvents: (fresh: AuditEvent[]) => {
        const r = pendingRefresh.current;
        for (const e of fresh) {
          if (e.type.startsWith('approval')) r.approvals = true;
          if (e.type.startsWith('session_') || e.type === 'command_started' || e.type === 'command_finished' || e.type === 'command_policy') r.sessions = true;
          if ((e.type === 'file_soft_deleted' || e.type.startsWith('trash_')) && (!sessionRef.current || e.session_id === sessionRef.current)) setTrashChanged((n) => n + 1);
          if (Date.parse(e.ts) < since) continue; // history, not news
          if (isDenial(e)) announce(`Denied: ${summary(e)}${e.rule ? `, rule ${e.rule}` : ''}`);
          else if (e.type === 'approval_requested') announce(`Approval requested: ${String(e.fields.target ?? e.message ?? '')}`);
        }
        if ((r.sessions || r.approvals) && !r.timer)
          r.timer = setTimeout(() => {
            if (r.sessions) void loadSessions();
            if (r.approvals) void loadApprovals();
            r.sessions = r.approvals = false;
            r.timer = 0;
          }, 250);
      },
    });
    void loadSessions();
    void loadApprovals();
    // Counts and expiries move without events too.
    const poll = setInterval(() => {
      void loadSessions();
      void loadApprovals();
    }, 5000);
    return () => {
      stop();
      clearInterval(poll);
    };
  }, [store]);

  useEffect(() => {
    if (tab !== 'approvals') return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [tab]);

  const pending = approvals.kind === 'ok' ? approvals.list.filter((a) => a.status === 'pending') : [];
  const waiting = (sid: string) => pending.reduce((n, a) => n + (a.session_id === sid ? 1 : 0), 0);
  useEffect(() => {
    document.title = pending.length ? `(${pending.length}) agentsh console` : 'agentsh console';
  }, [pending.length]);

  const logout = async () => {
    try {
      await post.logout();
    } catch {
      /* gone already */
    }
    store.clear();
    p.onOut();
  };

  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});
  const onTabKey = (e: KeyboardEvent) => {
    const i = TABS.findIndex(([k]) => k === tab);
    let j = i;
    if (e.key === 'ArrowRight') j = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') j = (i + TABS.length - 1) % TABS.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = TABS.length - 1;
    else return;
    e.preventDefault();
    const next = TABS[j]![0];
    go(next, session);
    tabRefs.current[next]?.focus();
  };

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <h1>agentsh console</h1>
        <span class={`conn conn-${status}`}>{status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : status === 'reconnecting' ? 'Reconnecting…' : 'Disconnected'}</span>
        <button type="button" class="link" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <nav class="sessions" aria-labelledby="sess-h">
        <h2 id="sess-h">Sessions</h2>
        <ul>
          <li>
            <button type="button" class="sess" aria-current={session === '' ? 'true' : undefined} onClick={() => go(tab, '')}>
              <span class="sid">All sessions</span>
              <span class="meta">{sessions.length} open</span>
            </button>
          </li>
          {sessions.map((s) => (
            <li key={s.id}>
              <button type="button" class="sess" aria-current={session === s.id ? 'true' : undefined} onClick={() => go(tab, s.id)}>
                <span class="sid">{s.id}</span>
                <span class={`state ${s.running ? 'running' : 'idle'}`}>
                  {s.running ? `running ${s.running}` : 'idle'}
                  {waiting(s.id) > 0 && <span class="waiting"> · {waiting(s.id)} waiting for approval</span>}
                </span>
                <span class="meta">
                  {s.workspace} · policy {s.policy} · {s.commands} command{s.commands === 1 ? '' : 's'} · active {relative(s.last_active_at)}
                </span>
              </button>
            </li>
          ))}
        </ul>
        {session && !sessions.some((s) => s.id === session) && <p class="notice">Session {session} is not open (ended or expired); its events stay below.</p>}
      </nav>
      <main id="main" tabIndex={-1}>
        <div role="tablist" aria-label="Views" class="tabs" onKeyDown={onTabKey}>
          {TABS.map(([k, label]) => (
            <button
              key={k}
              ref={(el) => {
                tabRefs.current[k] = el;
              }}
              type="button"
              role="tab"
              id={`tab-${k}`}
              aria-selected={tab === k}
              aria-controls={tab === k || k === 'events' ? `panel-${k}` : undefined}
              tabIndex={tab === k ? 0 : -1}
              onClick={() => go(k, session)}
            >
              {label}
              {k === 'approvals' && pending.length > 0 && <span class="count-badge"> ({pending.length} pending)</span>}
            </button>
          ))}
        </div>
        <div role="tabpanel" id="panel-events" aria-labelledby="tab-events" hidden={tab !== 'events'} class="panel">
          <Events store={store} version={version} sessions={sessions} session={session} onSession={(s) => go(tab, s)} />
        </div>
        {tab !== 'events' && (
          <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} class="panel">
            {tab === 'approvals' && <Approvals state={approvals} session={session} refresh={() => void loadApprovals()} now={now} />}
            {tab === 'trash' && <Trash session={session} changed={trashChanged} />}
            {tab === 'report' && <Report session={session} />}
            {tab === 'enforcement' && <Enforcement session={session} />}
          </div>
        )}
      </main>
    </div>
  );
}
