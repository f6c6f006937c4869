// A session's soft-deleted files, newest first, each restorable to where it was.
import { useEffect, useState } from 'preact/hooks';
import { get, post, type TrashEntry } from './api.js';
import { bytes, dateTime } from './format.js';
import { useFetch } from './useFetch.js';

export function Trash(p: { session: string; changed: number }) {
  const [state, refresh] = useFetch<TrashEntry[]>(p.session || null, () => get.trash(p.session));
  const [result, setResult] = useState('');
  const [busy, setBusy] = useState('');
  useEffect(() => setResult(''), [p.session]);
  useEffect(() => {
    if (p.changed) refresh();
  }, [p.changed]);

  const restore = async (t: TrashEntry) => {
    setBusy(t.token);
    try {
      const r = await post.restore(p.session, t.token);
      setResult(`Restored ${t.original_path}${r.restored_to && r.restored_to !== t.original_path ? ` to ${r.restored_to}` : ''}.`);
    } catch (err) {
      setResult(`Could not restore ${t.original_path}: ${(err as Error).message}`);
    }
    setBusy('');
    refresh();
  };

  return (
    <section aria-labelledby="trash-h">
      <h2 id="trash-h">Trash</h2>
      {!p.session && <p class="empty">Pick a session to see its soft-deleted files.</p>}
      <p class="result" role="status">
        {result}
      </p>
      {state.kind === 'loading' && <p>Loading…</p>}
      {state.kind === 'missing' && <p class="notice">No trash for this session ({state.message}).</p>}
      {state.kind === 'error' && (
        <p class="error" role="alert">
          {state.message}
        </p>
      )}
      {state.kind === 'ok' &&
        (state.value.length === 0 ? (
          <p class="empty">The trash of this session is empty.</p>
        ) : (
          <table>
            <caption class="sr-only">Soft-deleted files of session {p.session}</caption>
            <thead>
              <tr>
                <th scope="col">Path</th>
                <th scope="col">Kind</th>
                <th scope="col">Size</th>
                <th scope="col">Deleted</th>
                <th scope="col">Rule</th>
                <th scope="col">Command</th>
                <th scope="col">
                  <span class="sr-only">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {[...state.value]
                .sort((a, b) => (a.deleted_at < b.deleted_at ? 1 : -1))
                .map((t) => (
                  <tr key={t.token}>
                    <th scope="row">
                      <code>{t.original_path}</code>
                    </th>
                    <td>{t.kind}</td>
                    <td>{bytes(t.size)}</td>
                    <td>{dateTime(t.deleted_at)}</td>
                    <td>{t.rule}</td>
                    <td>
                      <code>{t.command ?? ''}</code>
                    </td>
                    <td>
                      <button type="button" disabled={busy === t.token} aria-label={`Restore ${t.original_path}`} onClick={() => void restore(t)}>
                        Restore
                      </button>
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}
