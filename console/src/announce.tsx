// One polite live region for the whole console: new denials and approval requests are
// read out. Bursts are summarised (at most one announcement every 1.5 s), so a flood of
// events does not bury a screen reader.
import { useEffect, useState } from 'preact/hooks';

let queue: string[] = [];
let timer: ReturnType<typeof setTimeout> | null = null;
let setText: ((s: string) => void) | null = null;

export function announce(msg: string): void {
  queue.push(msg);
  timer ??= setTimeout(flush, 200);
}

function flush(): void {
  const msgs = queue;
  queue = [];
  timer = null;
  if (!msgs.length || !setText) return;
  const text = msgs.length <= 3 ? msgs.join('. ') : `${msgs.slice(0, 2).join('. ')}. And ${msgs.length - 2} more.`;
  setText(text);
  // The next announcement waits a little, so each is read out.
  timer = setTimeout(() => {
    timer = null;
    if (queue.length) flush();
  }, 1500);
}

export function LiveRegion() {
  const [text, set] = useState('');
  useEffect(() => {
    setText = set;
    return () => {
      setText = null;
    };
  }, []);
  return (
    <div class="sr-only" role="status" aria-live="polite" aria-atomic="true" data-testid="announcer">
      {text}
    </div>
  );
}
