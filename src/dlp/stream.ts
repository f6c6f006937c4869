// Streaming redaction: a push/end API and a Node Transform around the same engine as
// one-shot redaction (redactor.ts), so streamed output equals one-shot output byte for byte
// (for matches up to `maxMatchBytes`).
//
// Boundary rule (see redactor.ts): a byte is emitted as soon as no detector could still be
// in the middle of a match that includes it, i.e. everything before the earliest position
// from which the bytes received so far are a prefix of a possible match of some detector.
// Ordinary text is emitted immediately (a line of prose or a newline ends every built-in
// pattern); only a tail that could still grow into a secret (`…AKIA12`, `eyJhbGc`, a PEM
// block in progress, an unfinished word that could become an e-mail address) is held, and
// never more than `maxMatchBytes` of it.
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { type Finding, type Redactor, Scanner, type ScannerOptions } from './redactor.js';

export { DEFAULT_MAX_MATCH_BYTES } from './redactor.js';

/**
 * Incremental redactor:
 *   const s = new StreamRedactor(redactor);
 *   out(s.push(chunk)) … out(s.end());
 * `push` returns what is decided now (possibly an empty Buffer, possibly a view into the
 * chunk); `end` returns the rest. `flush()` forces out the held tail (an idle timeout can use
 * it; a secret split across a flush may escape). `findings` counts redactions; pass
 * `onFinding` for details (byte offsets from the start of the stream).
 */
export class StreamRedactor extends Scanner {
  constructor(redactor: Redactor, opts: ScannerOptions = {}) {
    super(redactor, opts);
  }
}

export interface RedactStreamOptions extends ScannerOptions {
  /**
   * Emit a held-back tail after this many ms without new input (0 or absent: never). Off by
   * default: with it, a secret printed slowly enough (a few bytes, a pause, the rest) is
   * emitted in two unredacted halves. The tail held without it is only a possible prefix of
   * a secret, and it is released by the next bytes or the end of the stream.
   */
  idleFlushMs?: number;
}

/** A Transform that redacts what flows through it. */
export class RedactStream extends Transform {
  readonly scanner: StreamRedactor;
  private timer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(redactor: Redactor, opts: RedactStreamOptions = {}) {
    super();
    this.scanner = new StreamRedactor(redactor, opts);
    this.idleMs = opts.idleFlushMs ?? 0;
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, cb: TransformCallback): void {
    try {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding);
      const out = this.scanner.push(buf);
      if (out.length) this.push(out);
      this.armIdle();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    this.disarm();
    try {
      const out = this.scanner.end();
      if (out.length) this.push(out);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.disarm();
    cb(err);
  }

  private armIdle(): void {
    if (this.idleMs <= 0) return;
    this.disarm();
    if (this.scanner.heldBytes === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.destroyed || this.writableEnded) return;
      const out = this.scanner.flush();
      if (out.length) this.push(out);
    }, this.idleMs);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A redacting Transform, or a PassThrough when DLP is off (`fromConfig` returned null). */
export function createRedactStream(redactor: Redactor | null, opts: RedactStreamOptions = {}): Transform {
  return redactor ? new RedactStream(redactor, opts) : new PassThrough();
}

export type { Finding };
