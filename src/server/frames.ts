// The shim protocol's framing (docs/shim-protocol.md): 1 byte type, 4 bytes big-endian
// length, payload. The decoder is incremental and refuses oversized frames.

export const MAX_FRAME = 1024 * 1024;
// The hello carries argv and environ, which may legitimately be large (ARG_MAX is 2 MiB+).
export const MAX_HELLO_FRAME = 16 * 1024 * 1024;

export function encodeFrame(type: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

export function exitFrame(status: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(status >>> 0, 0);
  return encodeFrame('X', b);
}

export class FrameError extends Error {}

export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the complete frames they finish. Throws FrameError on a bad frame. */
  push(chunk: Buffer): { type: string; payload: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { type: string; payload: Buffer }[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      const max = this.buf[0] === 0x48 /* H */ ? MAX_HELLO_FRAME : MAX_FRAME;
      if (len > max) throw new FrameError(`frame of ${len} bytes exceeds ${max}`);
      if (this.buf.length < 5 + len) break;
      out.push({ type: String.fromCharCode(this.buf[0]!), payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }
}
