// The soft-delete trash: byte-exact restores with modes and mtimes, hash checks, refusals,
// orphans, purge by ttl and quota, session filtering, and the CLI's fixed output format.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync,
  statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfigFile } from '../src/config/load.js';
import { parseTrashTtl, trashDirFromConfig, trashLimitsFromConfig } from '../src/trash/config.js';
import { escapeField, formatAge } from '../src/trash/format.js';
import { isTrashToken, newTrashToken, tokenTime, TrashError, TrashStore } from '../src/trash/store.js';
import { cli, SEED_CONFIG } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'agentsh-trash-'));
after(() => {
  // Tests leave read-only directories behind (restored as recorded): open them up first.
  const open = (p: string) => {
    if (!lstatSync(p).isDirectory()) return;
    chmodSync(p, 0o700);
    for (const name of readdirSync(p)) open(join(p, name));
  };
  open(root);
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
/** A fresh workspace and trash directory. */
function setup() {
  const base = join(root, `t${n++}`);
  const ws = join(base, 'ws');
  mkdirSync(ws, { recursive: true });
  const store = new TrashStore(join(base, 'trash'));
  store.init();
  return { base, ws, store };
}

/** What the supervisor does: move the file into the trash under a server-chosen token. */
function softDelete(store: TrashStore, path: string, sessionId = 's1', deletedAt?: Date) {
  const token = newTrashToken(deletedAt);
  renameSync(path, store.payloadPath(token));
  return store.record(token, { originalPath: path, sessionId, command: `rm ${path}`, rule: 'soft-delete-workspace', ...(deletedAt ? { deletedAt } : {}) });
}

const nsOf = (p: string) => lstatSync(p, { bigint: true }).mtimeNs;
const modeOf = (p: string) => lstatSync(p).mode & 0o7777;

/** Everything about a tree that a restore must bring back. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string) => {
    const st = lstatSync(p, { bigint: true });
    const kind = st.isSymbolicLink() ? `link->${readlinkSync(p)}` : st.isDirectory() ? 'dir' : `file:${readFileSync(p).toString('base64')}`;
    out.push(`${rel} ${kind} ${(Number(st.mode) & 0o7777).toString(8)} ${st.isSymbolicLink() ? '' : st.mtimeNs}`);
    if (st.isDirectory()) for (const name of readdirSync(p).sort()) walk(join(p, name), `${rel}/${name}`);
  };
  walk(dir, '.');
  return out;
}

// Half a second: exact in the double that utimes takes, so mtimes compare to the nanosecond.
const PAST = new Date('2024-05-06T07:08:09.500Z');
const PAST_NS = BigInt(PAST.getTime()) * 1_000_000n;

describe('trash tokens', () => {
  it('are unique over 100k generations, sortable by time and filename-safe', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(newTrashToken());
    assert.equal(seen.size, 100_000);
    for (const t of seen) assert.ok(isTrashToken(t) && !t.includes('/') && !t.includes('..'), t);
    const a = newTrashToken(new Date('2024-01-01T00:00:00Z'));
    const b = newTrashToken(new Date('2024-01-01T00:00:00.001Z'));
    assert.ok(a < b);
    assert.equal(tokenTime(b)?.toISOString(), '2024-01-01T00:00:00.001Z');
  });

  it('rejects anything that could be a path', () => {
    const t = newTrashToken();
    for (const bad of ['', '.', '..', '.meta', '../x', `${t}/x`, `../${t}`, `${t}/..`, `a/${t}`, `${t}\0`, `${t}x`, t.toUpperCase(), '/etc/passwd']) {
      assert.equal(isTrashToken(bad), false, JSON.stringify(bad));
    }
    const { store } = setup();
    assert.throws(() => store.restore('../../etc/passwd'), (e: Error) => e instanceof TrashError && /not a trash token/.test(e.message));
    assert.throws(() => store.record(`${t}/..`, { originalPath: '/x', sessionId: 's' }), TrashError);
  });
});

describe('trash store: restore', () => {
  it('restores a binary file with NUL bytes and a 1 MiB file byte for byte, with mode and mtime', () => {
    const { ws, store } = setup();
    const small = Buffer.concat([Buffer.from([0, 0, 1, 0, 255, 0]), randomBytes(1000), Buffer.alloc(64)]);
    const big = randomBytes(1 << 20);
    const files: Array<[string, Buffer, number]> = [[join(ws, 'bin\u00e9.dat'), small, 0o640], [join(ws, 'big.bin'), big, 0o755]];
    for (const [p, data, mode] of files) {
      writeFileSync(p, data);
      chmodSync(p, mode);
      utimesSync(p, PAST, PAST);
    }
    const entries = files.map(([p]) => softDelete(store, p));
    assert.equal(entries[1]!.size, 1 << 20);
    assert.equal(entries[0]!.kind, 'file');
    assert.match(entries[0]!.sha256!, /^[0-9a-f]{64}$/);
    // Modes and mtimes changed while in the trash are put back as recorded.
    chmodSync(store.payloadPath(entries[0]!.token), 0o600);
    utimesSync(store.payloadPath(entries[0]!.token), new Date(), new Date());
    for (const [i, [p, data, mode]] of files.entries()) {
      assert.ok(!existsSync(p));
      assert.deepEqual(store.restore(entries[i]!.token), { path: p });
      assert.ok(readFileSync(p).equals(data));
      assert.equal(modeOf(p), mode);
      assert.equal(nsOf(p), PAST_NS);
    }
    assert.deepEqual(store.list(), []);
    assert.deepEqual(readdirSync(store.dir), ['.meta']);
    assert.deepEqual(readdirSync(join(store.dir, '.meta')).filter((f) => f.endsWith('.json')), []);
  });

  it('restores a directory entry whole: nested files, symlink, empty dir, every mode and mtime', () => {
    const { ws, store } = setup();
    const d = join(ws, 'project');
    mkdirSync(join(d, 'sub/deeper'), { recursive: true });
    mkdirSync(join(d, 'empty'));
    writeFileSync(join(d, 'a.bin'), Buffer.from([0, 1, 2, 0, 0]));
    writeFileSync(join(d, 'sub/b.txt'), 'bee\n');
    writeFileSync(join(d, 'sub/deeper/c'), randomBytes(70_000));
    symlinkSync('../a.bin', join(d, 'sub/link'));
    chmodSync(join(d, 'a.bin'), 0o600);
    chmodSync(join(d, 'sub/b.txt'), 0o755);
    chmodSync(join(d, 'sub/deeper'), 0o500);
    chmodSync(join(d, 'sub'), 0o750);
    let t = PAST.getTime();
    for (const p of ['a.bin', 'sub/b.txt', 'sub/deeper/c', 'sub/deeper', 'empty', 'sub', '.']) {
      t += 60_000;
      utimesSync(join(d, p), new Date(t), new Date(t));
    }
    const before = snapshot(d);
    const e = softDelete(store, d);
    assert.equal(e.kind, 'dir');
    assert.equal(e.size, 5 + 4 + 70_000);
    assert.match(e.digest!, /^[0-9a-f]{64}$/);
    chmodSync(join(store.payloadPath(e.token), 'sub'), 0o777);
    store.restore(e.token);
    assert.deepEqual(snapshot(d), before);
  });

  it('refuses a payload changed in the trash and leaves everything in place', () => {
    const { ws, store } = setup();
    const f = join(ws, 'f.txt');
    writeFileSync(f, 'original');
    const e = softDelete(store, f);
    writeFileSync(store.payloadPath(e.token), 'originaX');
    assert.throws(() => store.restore(e.token), /content changed in the trash/);
    assert.ok(!existsSync(f));
    assert.equal(readFileSync(store.payloadPath(e.token), 'utf8'), 'originaX');
    assert.equal(store.list().length, 1);

    const d = join(ws, 'dir');
    mkdirSync(join(d, 'x'), { recursive: true });
    writeFileSync(join(d, 'x/y'), 'y');
    const de = softDelete(store, d);
    writeFileSync(join(store.payloadPath(de.token), 'x/planted'), 'evil');
    assert.throws(() => store.restore(de.token), /content changed in the trash: .*x\/planted was added/);
    assert.ok(!existsSync(d));
    unlinkSync(join(store.payloadPath(de.token), 'x/planted'));
    writeFileSync(join(store.payloadPath(de.token), 'x/y'), 'z');
    assert.throws(() => store.restore(de.token), /content changed in the trash: .*x\/y differs/);
    assert.equal(store.list().length, 2);
  });

  it('refuses an existing destination unless forced; never replaces a non-empty directory', () => {
    const { ws, store } = setup();
    const f = join(ws, 'f.txt');
    writeFileSync(f, 'deleted');
    const e = softDelete(store, f);
    writeFileSync(f, 'newer');
    assert.throws(() => store.restore(e.token), /exists; use --force/);
    assert.equal(readFileSync(f, 'utf8'), 'newer');
    assert.ok(existsSync(store.payloadPath(e.token)));
    store.restore(e.token, { force: true });
    assert.equal(readFileSync(f, 'utf8'), 'deleted');

    const g = join(ws, 'g');
    writeFileSync(g, 'g');
    const ge = softDelete(store, g);
    mkdirSync(join(g, 'inside'), { recursive: true });
    assert.throws(() => store.restore(ge.token, { force: true }), /non-empty directory/);
    rmSync(join(g, 'inside'), { recursive: true });
    store.restore(ge.token, { force: true }); // an empty directory is replaced
    assert.equal(readFileSync(g, 'utf8'), 'g');
  });

  it('restores to --dest; refuses when the parent directory is missing, naming it', () => {
    const { ws, store } = setup();
    const f = join(ws, 'a/b/f.txt');
    mkdirSync(join(ws, 'a/b'), { recursive: true });
    writeFileSync(f, 'x');
    const e = softDelete(store, f);
    rmSync(join(ws, 'a'), { recursive: true });
    assert.throws(() => store.restore(e.token), (err: Error) => err instanceof TrashError && err.message.includes(`missing: ${join(ws, 'a')}`));
    assert.ok(existsSync(store.payloadPath(e.token)));
    assert.deepEqual(store.restore(e.token, { dest: join(ws, 'elsewhere.txt') }), { path: join(ws, 'elsewhere.txt') });
    assert.equal(readFileSync(join(ws, 'elsewhere.txt'), 'utf8'), 'x');
    assert.throws(() => store.restore(e.token), /no trash entry/);
  });

  it('refuses to restore through a symlink planted by another user', { skip: process.geteuid?.() !== 0 && 'needs root (lchown)' }, () => {
    const { ws, store } = setup();
    mkdirSync(join(ws, 'cfg'));
    writeFileSync(join(ws, 'cfg/x'), 'x');
    const e = softDelete(store, join(ws, 'cfg/x'));
    const elsewhere = join(ws, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(join(ws, 'cfg'), { recursive: true });
    symlinkSync(elsewhere, join(ws, 'cfg'));
    lchownSync(join(ws, 'cfg'), 65534, 65534);
    assert.throws(() => store.restore(e.token), /refusing to restore through .*cfg: it is a symlink owned by uid 65534/);
    assert.deepEqual(readdirSync(elsewhere), []);
    lchownSync(join(ws, 'cfg'), 0, 0); // root's own symlinks are followed
    store.restore(e.token);
    assert.equal(readFileSync(join(elsewhere, 'x'), 'utf8'), 'x');
  });

  const otherFs = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(tmpdir()).dev ? '/dev/shm' : null;
  it('copies, verifies and removes across filesystems (EXDEV)', { skip: !otherFs && 'no second filesystem' }, () => {
    const { ws, store } = setup();
    const dest = mkdtempSync(join(otherFs!, 'agentsh-trash-'));
    try {
      const f = join(ws, 'f.bin');
      writeFileSync(f, randomBytes(300_000));
      chmodSync(f, 0o604);
      utimesSync(f, PAST, PAST);
      const data = readFileSync(f);
      const e = softDelete(store, f);
      store.restore(e.token, { dest: join(dest, 'f.bin') });
      assert.ok(readFileSync(join(dest, 'f.bin')).equals(data));
      assert.equal(modeOf(join(dest, 'f.bin')), 0o604);
      assert.equal(nsOf(join(dest, 'f.bin')), PAST_NS);
      assert.ok(!existsSync(store.payloadPath(e.token)));

      const d = join(ws, 'd');
      mkdirSync(join(d, 's'), { recursive: true });
      writeFileSync(join(d, 's/x'), 'x');
      symlinkSync('s/x', join(d, 'l'));
      chmodSync(join(d, 's'), 0o711);
      utimesSync(join(d, 's/x'), PAST, PAST);
      utimesSync(join(d, 's'), PAST, PAST);
      utimesSync(d, PAST, PAST);
      const before = snapshot(d);
      const de = softDelete(store, d);
      store.restore(de.token, { dest: join(dest, 'd') });
      assert.deepEqual(snapshot(join(dest, 'd')), before);
      assert.deepEqual(readdirSync(dest).sort(), ['d', 'f.bin']); // no temp copy left behind
      assert.deepEqual(store.list(), []);
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  });
});

describe('trash store: list and purge', () => {
  it('lists oldest first, filters by session, and reports orphans and missing payloads without crashing', () => {
    const { ws, store } = setup();
    const mk = (name: string, sid: string, ageMs: number) => {
      writeFileSync(join(ws, name), name);
      return softDelete(store, join(ws, name), sid, new Date(Date.now() - ageMs));
    };
    const c = mk('c', 's1', 1000);
    const a = mk('a', 's1', 3000);
    const b = mk('b', 's2', 2000);
    const orphan = newTrashToken(new Date(Date.now() - 5000));
    writeFileSync(store.payloadPath(orphan), 'orphan!');
    assert.deepEqual(store.list().map((e) => e.token), [orphan, a.token, b.token, c.token]);
    assert.deepEqual(store.list({ sessionId: 's1' }).map((e) => e.token), [a.token, c.token]);
    assert.deepEqual(store.list({ sessionId: 's2' }).map((e) => e.originalPath), [join(ws, 'b')]);
    assert.deepEqual(store.list({ sessionId: 'nobody' }), []);
    const o = store.list()[0]!;
    assert.deepEqual([o.orphan, o.originalPath, o.size, o.kind], [true, null, 7, 'file']);
    assert.throws(() => store.restore(orphan), /has no metadata/);

    rmSync(store.payloadPath(b.token));
    writeFileSync(join(store.dir, '.meta', `${c.token}.json`), '{not json');
    const all = store.list();
    assert.equal(all.length, 4);
    const gone = all.find((e) => e.token === b.token)!;
    assert.deepEqual([gone.payloadMissing, gone.originalPath], [true, join(ws, 'b')]);
    const bad = all.find((e) => e.token === c.token)!;
    assert.equal(bad.orphan, true);
    assert.match(bad.problem!, /not valid JSON/);
    assert.throws(() => store.restore(b.token), /payload of .* is missing/);
  });

  it('purges by ttl: entries and orphans older than the ttl are really gone', () => {
    const { ws, store } = setup();
    const now = new Date();
    const day = 86_400_000;
    const mk = (name: string, ageMs: number, sid = 's1') => {
      writeFileSync(join(ws, name), 'x'.repeat(10));
      return softDelete(store, join(ws, name), sid, new Date(now.getTime() - ageMs));
    };
    const old1 = mk('old1', 10 * day);
    const old2 = mk('old2', 8 * day, 's2');
    const fresh = mk('fresh', day);
    const orphan = newTrashToken(new Date(now.getTime() - 9 * day));
    mkdirSync(join(store.payloadPath(orphan), 'inner'), { recursive: true });
    writeFileSync(join(store.payloadPath(orphan), 'inner/f'), '12345');
    const r = store.purge({ ttlMs: 7 * day, now });
    assert.deepEqual(r.removed.map((e) => e.token), [old1.token, orphan, old2.token]);
    assert.equal(r.freedBytes, 25);
    for (const t of [old1.token, old2.token, orphan]) {
      assert.ok(!existsSync(store.payloadPath(t)));
      assert.ok(!existsSync(join(store.dir, '.meta', `${t}.json`)));
    }
    assert.deepEqual(readdirSync(store.dir).sort(), ['.meta', fresh.token]);
    assert.deepEqual(readdirSync(join(store.dir, '.meta/sessions')).length, 1); // s2's marker directory swept
    assert.deepEqual(store.list({ sessionId: 's1' }).map((e) => e.token), [fresh.token]);
  });

  it('purges by quota, oldest first, until the total fits', () => {
    const { ws, store } = setup();
    const now = Date.now();
    const es = [3, 2, 1].map((h) => {
      writeFileSync(join(ws, `f${h}`), Buffer.alloc(100));
      return softDelete(store, join(ws, `f${h}`), 's1', new Date(now - h * 3_600_000));
    });
    const r = store.purge({ quotaBytes: 150 });
    assert.deepEqual(r.removed.map((e) => e.token), [es[0]!.token, es[1]!.token]);
    assert.equal(r.freedBytes, 200);
    assert.deepEqual(store.list().map((e) => e.token), [es[2]!.token]);
    assert.ok(!existsSync(store.payloadPath(es[0]!.token)));
    assert.deepEqual(store.purge({ quotaBytes: 100 }).removed, []);
  });
});

describe('agentsh trash (CLI)', () => {
  const ago = (ms: number) => new Date(Date.now() - ms);

  it('prints TOKEN<TAB>PATH<TAB>N bytes<TAB>AGE ago lines, or exactly "trash empty"', () => {
    const { ws, store } = setup();
    assert.deepEqual(cli(['trash', 'list', '--dir', store.dir]), { code: 0, stdout: 'trash empty\n', stderr: '' });
    assert.equal(cli(['trash', 'list', '--dir', join(ws, 'no-such-trash')]).stdout, 'trash empty\n');
    writeFileSync(join(ws, 'a.txt'), 'hello');
    const a = softDelete(store, join(ws, 'a.txt'), 's1', ago(2 * 86_400_000 + 5000));
    mkdirSync(join(ws, 'd'));
    writeFileSync(join(ws, 'd/x'), '123');
    const d = softDelete(store, join(ws, 'd'), 's2', ago(3 * 3_600_000 + 5000));
    writeFileSync(join(ws, 'tab\there'), '');
    const t = softDelete(store, join(ws, 'tab\there'), 's2', ago(5 * 60_000 + 5000));
    const r = cli(['trash', 'list', '--dir', store.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      `${a.token}\t${join(ws, 'a.txt')}\t5 bytes\t2d ago`,
      `${d.token}\t${join(ws, 'd')}\t3 bytes\t3h ago`,
      `${t.token}\t${join(ws, 'tab\\there')}\t0 bytes\t5m ago`,
      '',
    ].join('\n'));
    assert.equal(r.stderr, '');
    const s2 = cli(['trash', 'list', '--dir', store.dir, '--session', 's2', '--json']);
    const j = JSON.parse(s2.stdout);
    assert.deepEqual(j.map((e: { token: string }) => e.token), [d.token, t.token]);
    assert.equal(j[0].sessionId, 's2');
    assert.equal(j[0].kind, 'dir');
    assert.equal(typeof j[0].deletedAt, 'string');
  });

  it('lists orphan payloads with an unknown path and says so on stderr', () => {
    const { store } = setup();
    const token = newTrashToken(ago(10_000));
    writeFileSync(store.payloadPath(token), 'abc');
    const r = cli(['trash', 'list', '--dir', store.dir]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^${token.replace(/\./g, '\\.')}\\t\\(unknown\\)\\t3 bytes\\t1\\ds ago\\n$`));
    assert.match(r.stderr, new RegExp(`warning: ${token.replace(/\./g, '\\.')}: no metadata`));
  });

  it('restore prints "restored to PATH"; failures exit 1 with a message on stderr', () => {
    const { ws, store } = setup();
    const f = join(ws, 'f.txt');
    writeFileSync(f, 'content');
    const e = softDelete(store, f);
    writeFileSync(f, 'new');
    const exists = cli(['trash', 'restore', e.token, '--dir', store.dir]);
    assert.deepEqual([exists.code, exists.stdout], [1, '']);
    assert.match(exists.stderr, /^agentsh: .*f\.txt exists; use --force to replace it\n$/);
    const ok = cli(['trash', 'restore', e.token, '--force', '--dir', store.dir]);
    assert.deepEqual(ok, { code: 0, stdout: `restored to ${f}\n`, stderr: '' });
    assert.equal(readFileSync(f, 'utf8'), 'content');
    const unknown = cli(['trash', 'restore', e.token, '--dir', store.dir]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no trash entry/);
    const bad = cli(['trash', 'restore', '../../etc/passwd', '--dir', store.dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a trash token/);
    writeFileSync(join(ws, 'g'), 'g');
    const g = softDelete(store, join(ws, 'g'));
    writeFileSync(store.payloadPath(g.token), 'tampered');
    const tampered = cli(['trash', 'restore', g.token, '--dir', store.dir, '--dest', join(ws, 'g2')]);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stderr, /content changed in the trash/);
    assert.ok(!existsSync(join(ws, 'g2')));
  });

  it('purge --ttl / --quota prints "purged N entries, B bytes"', () => {
    const { ws, store } = setup();
    for (const [name, days] of [['a', 9], ['b', 8], ['c', 0]] as const) {
      writeFileSync(join(ws, name), Buffer.alloc(1000));
      softDelete(store, join(ws, name), 's1', ago(days * 86_400_000 + 1000));
    }
    const r = cli(['trash', 'purge', '--ttl', '7d', '--quota', '10MB', '--dir', store.dir]);
    assert.deepEqual(r, { code: 0, stdout: 'purged 2 entries, 2000 bytes\n', stderr: '' });
    assert.equal(cli(['trash', 'purge', '--quota', '0', '--ttl', '1000h', '--dir', store.dir]).stdout, 'purged 1 entries, 1000 bytes\n');
    assert.equal(cli(['trash', 'list', '--dir', store.dir]).stdout, 'trash empty\n');
    const bad = cli(['trash', 'purge', '--ttl', '7 days', '--dir', store.dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--ttl: not a duration/);
  });
});

describe('trash settings', () => {
  it('finds the trash directory from the config (absolute as is, relative to workspace or home)', () => {
    const seed = loadConfigFile(SEED_CONFIG).config;
    assert.equal(trashDirFromConfig(seed, { workspace: '/w' }), '/home/daytona/.agentsh_trash');
    assert.equal(trashDirFromConfig(null, { workspace: '/w/s1' }), '/w/s1/.agentsh_trash');
    assert.equal(trashDirFromConfig(null, { home: '/home/op' }), '/home/op/.agentsh_trash');
    assert.deepEqual(trashLimitsFromConfig(seed), { ttlMs: 7 * 86_400_000, quotaBytes: 5e9 });
  });

  it('parses ttls with days and formats ages compactly', () => {
    assert.equal(parseTrashTtl('7d'), 7 * 86_400_000);
    assert.equal(parseTrashTtl('1d12h'), 36 * 3_600_000);
    assert.equal(parseTrashTtl('30m'), 1_800_000);
    assert.equal(parseTrashTtl('7 days'), null);
    assert.equal(parseTrashTtl('d'), null);
    assert.deepEqual([0, 59_999, 60_000, 3_599_999, 3_600_000, 86_399_999, 86_400_000, -5].map(formatAge), ['0s', '59s', '1m', '59m', '1h', '23h', '1d', '0s']);
    assert.equal(escapeField('/a\tb\nc\\d\x01'), '/a\\tb\\nc\\\\d\\x01');
  });
});
