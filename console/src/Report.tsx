// The session report: the same text as `agentsh report` for the session.
import { get } from './api.js';
import { useFetch } from './useFetch.js';

export function Report(p: { session: string }) {
  const [state, refresh] = useFetch(p.session || null, () => get.report(p.session));
  return (
    <section aria-labelledby="report-h">
      <div class="bar">
        <h2 id="report-h">Session report</h2>
        {p.session && (
          <button type="button" onClick={refresh}>
            Refresh
          </button>
        )}
      </div>
      {!p.session && <p class="empty">Pick a session to see its report.</p>}
      {state.kind === 'loading' && <p>Loading…</p>}
      {state.kind === 'missing' && <p class="notice">No report: {state.message}</p>}
      {state.kind === 'error' && (
        <p class="error" role="alert">
          {state.message}
        </p>
      )}
      {state.kind === 'ok' && (
        <pre class="report" tabIndex={0} aria-label={`Report for session ${p.session}`}>
          {state.value.text}
        </pre>
      )}
    </section>
  );
}
