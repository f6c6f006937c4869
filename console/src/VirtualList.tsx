// A windowed list: fixed row height, only the rows in view (plus a few) are in the DOM, so
// 50,000 events cost the same to render as 30. A listbox for assistive technology: the
// list itself has focus and names the active row (aria-activedescendant); Up/Down, Page
// Up/Down, Home/End move it, Enter opens it. Rows carry aria-posinset/aria-setsize, so a
// screen reader tells "row 12 of 9,840" although only a window exists.
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface VirtualListProps {
  count: number;
  rowHeight: number;
  label: string;
  /** A stable DOM id for row i (aria-activedescendant points at it). */
  rowId(i: number): string;
  rowClass?(i: number): string;
  renderRow(i: number): ComponentChildren;
  active: number;
  onActive(i: number): void;
  onOpen?(i: number): void;
  /** Rows added at the top since the last render: the window stays on the same rows. */
  shiftTop?: number;
  overscan?: number;
}

export function VirtualList(p: VirtualListProps) {
  const ref = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(400);
  const overscan = p.overscan ?? 8;

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setHeight(el.clientHeight || 400);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 400));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // New rows above the window (newest first): keep the reader's place unless at the very top.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || !p.shiftTop || el.scrollTop === 0) return;
    el.scrollTop += p.shiftTop * p.rowHeight;
    setTop(el.scrollTop);
  }, [p.shiftTop, p.count]);

  const scrollToRow = (i: number) => {
    const el = ref.current;
    if (!el) return;
    const y = i * p.rowHeight;
    if (y < el.scrollTop) el.scrollTop = y;
    else if (y + p.rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = y + p.rowHeight - el.clientHeight;
  };

  useEffect(() => {
    if (p.active >= 0) scrollToRow(p.active);
  }, [p.active]);

  const onKey = (e: KeyboardEvent) => {
    if (!p.count) return;
    const page = Math.max(1, Math.floor(height / p.rowHeight) - 1);
    const cur = p.active < 0 ? -1 : p.active;
    let next = cur;
    switch (e.key) {
      case 'ArrowDown':
        next = Math.min(p.count - 1, cur + 1);
        break;
      case 'ArrowUp':
        next = Math.max(0, cur - 1);
        break;
      case 'PageDown':
        next = Math.min(p.count - 1, cur + page);
        break;
      case 'PageUp':
        next = Math.max(0, cur - page);
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = p.count - 1;
        break;
      case 'Enter':
      case ' ':
        if (cur >= 0) p.onOpen?.(cur);
        e.preventDefault();
        return;
      default:
        return;
    }
    e.preventDefault();
    p.onActive(next);
  };

  const first = Math.max(0, Math.floor(top / p.rowHeight) - overscan);
  const last = Math.min(p.count, Math.ceil((top + height) / p.rowHeight) + overscan);
  const rows = [];
  for (let i = first; i < last; i++) {
    const cls = `vrow${i === p.active ? ' active' : ''}${p.rowClass ? ` ${p.rowClass(i)}` : ''}`;
    rows.push(
      <div
        key={p.rowId(i)}
        id={p.rowId(i)}
        role="option"
        aria-selected={i === p.active}
        aria-posinset={i + 1}
        aria-setsize={p.count}
        class={cls}
        style={{ transform: `translateY(${i * p.rowHeight}px)`, height: `${p.rowHeight}px` }}
        onClick={() => p.onActive(i)}
        onDblClick={() => p.onOpen?.(i)}
      >
        {p.renderRow(i)}
      </div>,
    );
  }
  const activeId = p.active >= 0 && p.active < p.count ? p.rowId(p.active) : undefined;
  return (
    <div
      ref={ref}
      class="vlist"
      role="listbox"
      tabIndex={0}
      aria-label={p.label}
      aria-activedescendant={activeId}
      onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}
      onKeyDown={onKey}
    >
      <div class="vspacer" style={{ height: `${p.count * p.rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
