// What is enforced for a session: the security mode and, per domain (commands, files,
// network …), whether it is active and whether the kernel enforces it (agentsh detect).
import { get, type DetectReport } from './api.js';
import { useFetch } from './useFetch.js';

export function Enforcement(p: { session: string }) {
  const [state, refresh] = useFetch<DetectReport>(p.session || null, () => get.detect(p.session));
  return (
    <section aria-labelledby="enf-h">
      <div class="bar">
        <h2 id="enf-h">Enforcement</h2>
        {p.session && (
          <button type="button" onClick={refresh}>
            Refresh
          </button>
        )}
      </div>
      {!p.session && <p class="empty">Pick a session to see what is enforced for it.</p>}
      {state.kind === 'loading' && <p>Loading…</p>}
      {state.kind === 'missing' && <p class="notice">Not available: {state.message}</p>}
      {state.kind === 'error' && (
        <p class="error" role="alert">
          {state.message}
        </p>
      )}
      {state.kind === 'ok' && <Detect r={state.value} />}
    </section>
  );
}

function Detect({ r }: { r: DetectReport }) {
  return (
    <>
      {r.refusal && (
        <p class="error" role="alert">
          Commands are refused: {r.refusal}
        </p>
      )}
      <dl class="facts">
        <dt>Security mode</dt>
        <dd>
          <strong>{r.mode}</strong>
          {r.available && r.available !== r.mode ? ` (best available here: ${r.available})` : ''}
        </dd>
        {r.score !== undefined && (
          <>
            <dt>Protection score</dt>
            <dd>{String(r.score)}/100 (active enforcement only)</dd>
          </>
        )}
        {r.forced_off && r.forced_off.length > 0 && (
          <>
            <dt>Switched off</dt>
            <dd>{r.forced_off.join(', ')}</dd>
          </>
        )}
        {r.network !== undefined && (
          <>
            <dt>Network</dt>
            <dd>{typeof r.network === 'string' ? r.network : JSON.stringify(r.network)}</dd>
          </>
        )}
      </dl>
      <table>
        <caption class="sr-only">Enforcement by domain</caption>
        <thead>
          <tr>
            <th scope="col">Domain</th>
            <th scope="col">Enforced</th>
            <th scope="col">By</th>
            <th scope="col">Note</th>
          </tr>
        </thead>
        <tbody>
          {(r.domains ?? []).map((d) => (
            <tr key={d.domain} class={d.enforced ? '' : 'weak'}>
              <th scope="row">{d.domain}</th>
              <td>{d.enforced ? 'yes' : 'NO'}</td>
              <td>{typeof d.active === 'string' ? d.active : d.active ? 'yes' : 'no'}</td>
              <td>{d.note ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
