import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Prompts } from '../../src/core/prompts';

const builtin = path.resolve(__dirname, '../../../media/prompts');
const values = { taskId: 7, title: 'Say "hi" $(rm -rf /)', description: 'd {{title}}', workdir: '/workspace/repo', spec: 'S', lastError: '' };

describe('Prompts', () => {
  it('fills the built-in worker prompt with the task', () => {
    const { prompt, systemPrompt } = new Prompts(builtin).render('worker', '/nonexistent', values);
    assert.match(prompt, /task 7/);
    assert.ok(prompt.includes('Say "hi" $(rm -rf /)'), 'task text is inserted as it is');
    assert.ok(systemPrompt.length > 0);
  });

  it('does not expand placeholders inside the inserted task text', () => {
    const { prompt } = new Prompts(builtin).render('worker', '/nonexistent', values);
    assert.ok(prompt.includes('d {{title}}'));
  });

  it("prefers the repository's .borg/prompts over the built-in ones", () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-prompts-'));
    fs.mkdirSync(path.join(repo, '.borg', 'prompts'), { recursive: true });
    fs.writeFileSync(path.join(repo, '.borg', 'prompts', 'qa.md'), 'custom {{taskId}}');
    assert.equal(new Prompts(builtin).render('qa', repo, values).prompt, 'custom 7');
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('falls back to a generic prompt for an unknown persona', () => {
    assert.match(new Prompts(builtin).render('reviewer', '/nonexistent', values).prompt, /reviewer for task 7/);
  });
});
