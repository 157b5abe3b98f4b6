/** adoptLegacyDatabase: an old database (~/.borg/borg.sqlite, the extension's storage) is copied once into the workspace home, never lost or duplicated. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { adoptedNoteOf, adoptLegacyDatabase } from '../../src/core/legacyDatabase';
import { Store } from '../../src/core/store';
import { TaskStore } from '../../src/core/taskStore';

let dir: string;
let old: string;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-legacy-'));
  old = path.join(dir, 'old', 'borg.sqlite');
  const s = await Store.open(old);
  new TaskStore(s).add({ title: 'kept', description: '', repo: dir, maxAttempts: 1 });
  await s.close();
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('adoptLegacyDatabase', () => {
  it('copies the old database into the new place, leaving the old one and a note naming the copy', async () => {
    const to = path.join(dir, 'home', 'workspaces', 'abc', 'borg.sqlite');
    const bytes = fs.readFileSync(old);
    assert.equal(adoptLegacyDatabase(old, to), true);
    const s = await Store.open(to, { readOnly: true });
    assert.deepEqual(
      new TaskStore(s).list().map((t) => t.title),
      ['kept'],
    );
    await s.close();
    assert.deepEqual(fs.readFileSync(old), bytes, 'the old file stays as it was');
    assert.match(fs.readFileSync(adoptedNoteOf(old), 'utf8'), new RegExp(to.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.deepEqual(fs.readdirSync(path.dirname(to)), ['borg.sqlite'], 'no temp file left');
  });

  it('never replaces an existing database', () => {
    const to = path.join(dir, 'new.sqlite');
    fs.writeFileSync(to, 'mine');
    assert.equal(adoptLegacyDatabase(old, to), false);
    assert.equal(fs.readFileSync(to, 'utf8'), 'mine');
    assert.equal(fs.existsSync(adoptedNoteOf(old)), false);
  });

  it('adopts once: a second workspace does not get a second copy of the same tasks', () => {
    assert.equal(adoptLegacyDatabase(old, path.join(dir, 'a.sqlite')), true);
    assert.equal(adoptLegacyDatabase(old, path.join(dir, 'b.sqlite')), false);
    assert.equal(fs.existsSync(path.join(dir, 'b.sqlite')), false);
  });

  it('does nothing when there is no old database', () => {
    assert.equal(adoptLegacyDatabase(path.join(dir, 'none.sqlite'), path.join(dir, 'c.sqlite')), false);
    assert.equal(fs.existsSync(path.join(dir, 'c.sqlite')), false);
  });
});
