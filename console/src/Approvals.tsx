// Pending approvals: each waits for a human (or its timeout, which denies). Approve once,
// approve for the rest of the session (same kind, rule and target), or deny, with a reason.
import { useState } from 'preact/hooks';
import { post, type Approval } from './api.js';
import { dateTime, relative } from './format.js';

export type ApprovalsState = { kind: 'loading' } | { kind: 'unavailable'; message: string } | { kind: 'error'; message: string } | { kind: 'ok'; list: Approval[] };

export function Approvals(p: { state: ApprovalsState; session: string; refresh(): void; now: number }) {
  const [result, setResult] = useState('');
  const { state } = p;
  return (
    <section aria-labelledby="appr-h">
      <h2 id="appr-h">Pending approvals</h2>
      <p class="result" role="status">
        {result}
      </p>
      {state.kind === 'loading' && <p>Loading…</p>}
      {state.kind === 'unavailable' && <p class="notice">{state.message}</p>}
      {state.kind === 'error' && (
        <p class="error" role="alert">
          {state.message}
        </p>
      )}
      {state.kind === 'ok' && <List list={state.list.filter((a) => a.status === 'pending' && (!p.session || a.session_id === p.session))} session={p.session} now={p.now} done={(msg) => (setResult(msg), p.refresh())} />}
    </section>
  );
}

function List(p: { list: Approval[]; session: string; now: number; done(msg: string): void }) {
  if (!p.list.length) return <p class="empty">Nothing is waiting for approval{p.session ? ' in this session' : ''}.</p>;
  return (
    <ul class="cards">
      {p.list.map((a) => (
        <li key={a.id}>
          <Card a={a} now={p.now} done={p.done} />
        </li>
      ))}
    </ul>
  );
}

function Card(p: { a: Approval; now: number; done(msg: string): void }) {
  const { a } = p;
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const decide = async (decision: 'allow' | 'deny', scope: 'once' | 'session') => {
    setBusy(true);
    setError('');
    try {
      const r = await post.decide(a.id, decision, scope, reason.trim() || undefined);
      p.done(`${a.target}: ${r.status}${scope === 'session' && decision === 'allow' ? ' (for this session)' : ''}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  const hid = `appr-${a.id}`;
  return (
    <article class="card approval" aria-labelledby={hid}>
      <h3 id={hid}>
        <span class="kind">{a.kind}</span> <code>{a.target}</code>
      </h3>
      <dl>
        <dt>Rule</dt>
        <dd>{a.rule}</dd>
        {a.message && (
          <>
            <dt>Message</dt>
            <dd>{a.message}</dd>
          </>
        )}
        <dt>Session</dt>
        <dd>{a.session_id}</dd>
        <dt>Asked</dt>
        <dd>{dateTime(a.created_at)}</dd>
        <dt>Expires</dt>
        <dd>{relative(a.expires_at, p.now)} (then denied)</dd>
      </dl>
      <label class="reason">
        Reason (optional)
        <input type="text" value={reason} maxLength={500} onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <div class="actions">
        <button type="button" class="ok" disabled={busy} aria-label={`Approve ${a.target}`} onClick={() => void decide('allow', 'once')}>
          Approve
        </button>
        <button type="button" disabled={busy} aria-label={`Approve for this session: ${a.target}`} onClick={() => void decide('allow', 'session')}>
          Approve for this session
        </button>
        <button type="button" class="danger" disabled={busy} aria-label={`Deny ${a.target}`} onClick={() => void decide('deny', 'once')}>
          Deny
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </article>
  );
}
