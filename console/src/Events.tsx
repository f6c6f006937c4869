// Live events: filters (session, kind, free text), the windowed list (newest first), and
// the selected event in full.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { SessionInfo } from './api.js';
import { GROUPS, isDenial, summary, type EventStore, type Group } from './events.js';
import { shortId, time } from './format.js';
import { VirtualList } from './VirtualList.js';

const ROW = 28;

export function Events(p: { store: EventStore; version: number; sessions: SessionInfo[]; session: string; onSession(id: string): void }) {
  const [group, setGroup] = useState<Group>('all');
  const [text, setText] = useState('');
  const [active, setActive] = useState(-1);
  const [openId, setOpenId] = useState<string | null>(null);
  const { store } = p;

  // Text filtering waits for a pause in typing (a pass over 50k events per key is wasteful).
  const [debounced, setDebounced] = useState('');
  useEffect(() => {
    const t = setTimeout(() => setDebounced(text), 150);
    return () => clearTimeout(t);
  }, [text]);
  useEffect(() => {
    store.setFilter({ session: p.session, group, text: debounced });
    setActive(-1);
  }, [p.session, group, debounced]);

  // Rows that arrived at the top since the last render (the list keeps the reader's place).
  const prevNewest = useRef<string | undefined>(undefined);
  const prevFilter = useRef('');
  const key = `${p.session}\0${group}\0${debounced}`;
  const count = store.view.length;
  let shift = 0;
  if (prevFilter.current === key && prevNewest.current) {
    while (shift < count && store.view[count - 1 - shift]!.id !== prevNewest.current) shift++;
    if (shift === count) shift = 0; // the previous newest is gone (trimmed, rebuilt)
  }
  useEffect(() => {
    prevNewest.current = store.view[count - 1]?.id;
    prevFilter.current = key;
    if (shift && active >= 0) setActive(active + shift);
  });

  const at = (i: number) => store.view[count - 1 - i]!; // newest first
  const open = openId ? store.view.find((e) => e.id === openId) : undefined;
  const denials = useMemo(() => store.view.reduce((n, e) => n + (isDenial(e) ? 1 : 0), 0), [p.version, key]);

  return (
    <section class="events" aria-labelledby="events-h">
      <h2 id="events-h">Live events</h2>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Session
          <select value={p.session} onChange={(e) => p.onSession((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">All sessions</option>
            {p.sessions.map((s) => (
              <option key={s.id} value={s.id}>
                {s.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Show
          <select value={group} onChange={(e) => setGroup((e.currentTarget as HTMLSelectElement).value as Group)}>
            {(Object.keys(GROUPS) as Group[]).map((g) => (
              <option key={g} value={g}>
                {GROUPS[g]}
              </option>
            ))}
          </select>
        </label>
        <label class="grow">
          Search
          <input type="search" value={text} placeholder="command, path, host, rule…" onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <p class="count" aria-live="off">
          {count.toLocaleString()} of {store.size.toLocaleString()} events · {denials.toLocaleString()} denied
        </p>
      </form>
      <div class="evhead" aria-hidden="true">
        <span class="c-time">Time</span>
        <span class="c-sess">Session</span>
        <span class="c-type">Type</span>
        <span class="c-dec">Decision</span>
        <span class="c-sum">What</span>
        <span class="c-rule">Rule</span>
      </div>
      <VirtualList
        count={count}
        rowHeight={ROW}
        label="Events, newest first"
        rowId={(i) => `ev-${at(i).id}`}
        rowClass={(i) => (isDenial(at(i)) ? 'deny' : '')}
        active={active}
        onActive={(i) => {
          setActive(i);
          setOpenId(at(i).id);
        }}
        onOpen={(i) => setOpenId(at(i).id)}
        shiftTop={shift}
        renderRow={(i) => {
          const e = at(i);
          const deny = isDenial(e);
          return (
            <>
              <span class="c-time">{time(e.ts)}</span>
              <span class="c-sess" title={e.session_id}>
                {shortId(e.session_id)}
              </span>
              <span class="c-type">{e.type}</span>
              <span class={`c-dec${deny ? ' badge-deny' : ''}`}>{deny ? 'DENIED' : (e.decision ?? '')}</span>
              <span class="c-sum">{summary(e)}</span>
              <span class="c-rule">{e.rule ?? ''}</span>
            </>
          );
        }}
      />
      {open ? (
        <details class="evdetail" open>
          <summary>
            {open.type} {open.decision ? `· ${open.decision}` : ''} · {open.ts}
          </summary>
          <pre>{JSON.stringify(open, null, 2)}</pre>
        </details>
      ) : (
        <p class="hint">Select an event (click, or arrow keys in the list) to see it in full.</p>
      )}
    </section>
  );
}
