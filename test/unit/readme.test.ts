/** The README's Commands and Settings tables say what package.json contributes, with the same titles. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const root = path.join(__dirname, '..', '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  contributes: { commands: Array<{ command: string; title: string }>; configuration: Array<{ title: string; properties: Record<string, unknown> }> };
};
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** The section under `## <title>` up to the next `## `. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has a "## ${title}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

describe('README', () => {
  it("the Commands table lists every contributed command once, with package.json's title", () => {
    const rows = new Map<string, string>();
    for (const m of section('Commands').matchAll(/^\| `(borg\.[A-Za-z.]+)` \| ([^|]+) \|/gm)) {
      assert.ok(!rows.has(m[1]), `${m[1]} is listed once`);
      rows.set(m[1], m[2].trim());
    }
    const contributed = new Map(pkg.contributes.commands.map((c) => [c.command, c.title]));
    assert.deepEqual([...rows.keys()].sort(), [...contributed.keys()].sort(), 'the same commands');
    for (const [command, title] of contributed) assert.equal(rows.get(command), title, `${command}'s title`);
  });

  it('the Settings section has a row for every setting, under its category', () => {
    const text = section('Settings');
    for (const category of pkg.contributes.configuration) {
      const start = text.indexOf(`\n### ${category.title}\n`);
      assert.ok(start >= 0, `a "### ${category.title}" table`);
      const end = text.indexOf('\n### ', start + 1);
      const table = text.slice(start, end < 0 ? undefined : end);
      for (const setting of Object.keys(category.properties)) assert.match(table, new RegExp(`^\\| \`${setting.replace('.', '\\.')}\` \\|`, 'm'), `${setting} under ${category.title}`);
    }
  });
});
