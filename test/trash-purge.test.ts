// The server's periodic trash purge: entries past sandbox.fuse.audit.ttl, then the oldest
// past the quota, go (payload and metadata), each purge audited; younger entries stay.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfigText } from '../src/config/load.js';
import type { AuditRecord } from '../src/server/context.js';
import { forgetTrashStores, purgeTrashes, trashStoreFor } from '../src/server/trash.js';
import { newTrashToken } from '../src/trash/store.js';

const dir = mkdtempSync(join(tmpdir(), 'agentsh-purge-'));
after(() => {
  forgetTrashStores();
  rmSync(dir, { recursive: true, force: true });
});

describe('periodic trash purge', () => {
  it('removes what is past the ttl and over the quota, audits it, keeps the rest', () => {
    const config = loadConfigText('sandbox:\n  fuse:\n    audit:\n      trash_path: .trash\n      ttl: 1h\n      quota: 10B\n', 'c.yaml').config;
    const events: AuditRecord[] = [];
    const ctx = { config, audit: { record: (e: AuditRecord) => events.push(e), query: () => [], subscribe: () => () => {} } } as never;
    const session = { id: 's1', workspace: dir } as never;
    const store = trashStoreFor(ctx, session);
    const put = (content: string, at: Date) => {
      const token = newTrashToken(at);
      writeFileSync(join(store.dir, token), content);
      store.record(token, { originalPath: `${dir}/${token}`, sessionId: 's1', deletedAt: at });
      return token;
    };
    const now = new Date();
    const old = put('old entry', new Date(now.getTime() - 2 * 3600_000));
    const mid = put('12345678', new Date(now.getTime() - 60_000));
    const young = put('1234', now);
    assert.equal(purgeTrashes(ctx, now), 2);
    assert.equal(existsSync(join(store.dir, old)), false, 'past the ttl');
    assert.equal(existsSync(join(store.dir, mid)), false, 'oldest over the quota');
    assert.equal(existsSync(join(store.dir, young)), true);
    assert.deepEqual(store.list().map((e) => e.token), [young]);
    const ev = events.find((e) => e.type === 'trash_purged');
    assert.equal(ev?.fields?.entries, 2);
    assert.equal(purgeTrashes(ctx, now), 0);
  });
});
