// A GET that re-runs when its key changes (and on refresh); a 404 (a route the server does
// not have, a session that is gone) is told apart from other errors.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export type Fetched<T> = { kind: 'idle' } | { kind: 'loading' } | { kind: 'ok'; value: T } | { kind: 'missing'; message: string } | { kind: 'error'; message: string };

export function useFetch<T>(key: string | null, load: () => Promise<T>): [Fetched<T>, () => void] {
  const [state, setState] = useState<Fetched<T>>({ kind: key ? 'loading' : 'idle' });
  const [n, setN] = useState(0);
  const shownKey = useRef<string | null>(null);
  useEffect(() => {
    if (!key) {
      shownKey.current = null;
      return void setState({ kind: 'idle' });
    }
    let live = true;
    // A refresh of the same thing keeps showing it meanwhile (no flicker on live updates).
    if (shownKey.current !== key) setState({ kind: 'loading' });
    load().then(
      (value) => {
        if (!live) return;
        shownKey.current = key;
        setState({ kind: 'ok', value });
      },
      (err: unknown) => {
        if (!live) return;
        shownKey.current = null;
        setState(err instanceof ApiError && err.status === 404 ? { kind: 'missing', message: err.message } : { kind: 'error', message: (err as Error).message });
      },
    );
    return () => {
      live = false;
    };
  }, [key, n]);
  return [state, () => setN((x) => x + 1)];
}
