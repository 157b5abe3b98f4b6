/** The settings' rules (core/settingRules.ts) and package.json's configuration, which must say the same. */
import { WORKTREES_RULE } from '../../src/core/gitRemote';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { COST_RULES } from '../../src/core/gateway/settings';
import { HARDENING_RULES, SettingRule, TEST_NETWORK_RULE } from '../../src/core/hardening';
import { DEFAULT_SETTINGS } from '../../src/core/pipeline';
import { DEFAULT_TASK_SETTINGS } from '../../src/core/scheduler';
import { GENERAL_RULES, MAX_PREFIX_LENGTH, MAX_WARNING_LENGTH, notificationText, readGeneralSettings, settingOfWarning } from '../../src/core/settingRules';

describe('readGeneralSettings', () => {
  it('nothing set: every default, no warning', () => {
    const { settings, warnings } = readGeneralSettings({});
    assert.deepEqual(warnings, []);
    assert.deepEqual(settings, {
      prefix: DEFAULT_SETTINGS.prefix,
      image: DEFAULT_SETTINGS.image,
      maxParallelAgents: 4,
      agentTimeoutSeconds: 600,
      stopGraceSeconds: 10,
      onShutdown: 'detach',
      dockerHost: '',
      home: '',
      testCommand: '',
      testTimeoutSeconds: 600,
      testImage: '',
      maxAttempts: DEFAULT_TASK_SETTINGS.maxAttempts,
      baseBranch: '',
      model: '',
      allowedTools: [],
      agentsGroupBy: 'task',
      notifyTaskEnded: true,
      badge: true,
    });
  });

  it('the Agents grouping and the two switches: a bad value is the default, with one warning naming the setting', () => {
    const { settings, warnings } = readGeneralSettings({ 'agents.groupBy': 'phase', 'notifications.taskEnded': 'no', badge: false });
    assert.equal(settings.agentsGroupBy, 'task');
    assert.equal(settings.notifyTaskEnded, true);
    assert.equal(settings.badge, false);
    assert.equal(warnings.length, 2);
    assert.deepEqual(new Set(warnings.map(settingOfWarning)), new Set(['borg.agents.groupBy', 'borg.notifications.taskEnded']));
  });

  it('good values are taken as given (text trimmed)', () => {
    const { settings, warnings } = readGeneralSettings({
      containerPrefix: 'team.a',
      agentImage: ' borg-agent-claude:latest ',
      maxParallelAgents: 32,
      agentTimeoutSeconds: 0,
      onShutdown: 'stop',
      testCommand: 'npm test',
      allowedTools: ['WebFetch'],
    });
    assert.deepEqual(warnings, []);
    assert.equal(settings.prefix, 'team.a');
    assert.equal(settings.image, 'borg-agent-claude:latest');
    assert.equal(settings.maxParallelAgents, 32);
    assert.equal(settings.agentTimeoutSeconds, 0, '0 turns the watchdog off: not a bad value');
    assert.equal(settings.onShutdown, 'stop');
    assert.equal(settings.testCommand, 'npm test');
    assert.deepEqual(settings.allowedTools, ['WebFetch']);
  });

  it('out of range, fractional, wrong type, unknown enum value: the default, one warning each naming the setting, the rule and the default', () => {
    const { settings, warnings } = readGeneralSettings({
      maxParallelAgents: 100,
      stopGraceSeconds: -1,
      maxAttempts: 2.5,
      testTimeoutSeconds: 'soon',
      onShutdown: 'kill',
    });
    assert.equal(settings.maxParallelAgents, 4, 'not clamped to 32 in silence: the default, with a warning');
    assert.equal(settings.stopGraceSeconds, 10);
    assert.equal(settings.maxAttempts, 5);
    assert.equal(settings.testTimeoutSeconds, 600);
    assert.equal(settings.onShutdown, 'detach');
    assert.deepEqual(warnings, [
      'borg.maxParallelAgents is 100; it must be a whole number from 1 to 32. Using the default, 4.',
      'borg.stopGraceSeconds is -1; it must be a whole number from 0 to 300 seconds. Using the default, 10.',
      'borg.onShutdown is "kill"; it must be one of detach, stop. Using detach.',
      'borg.testTimeoutSeconds is "soon"; it must be a whole number from 1 to 86400 seconds. Using the default, 600.',
      'borg.maxAttempts is 2.5; it must be a whole number from 1 to 50. Using the default, 5.',
    ]);
  });

  it('a container prefix Docker would refuse (or too long) is the default, with a warning', () => {
    for (const bad of ['-borg', 'my prefix', 'a/b', 'x'.repeat(MAX_PREFIX_LENGTH + 1), 7]) {
      const { settings, warnings } = readGeneralSettings({ containerPrefix: bad });
      assert.equal(settings.prefix, 'borg', JSON.stringify(bad));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /^borg\.containerPrefix is .*Docker's container-name rule\)\. Using the default, borg\.$/);
    }
  });

  it('text settings that are not text, and tool lists that are not lists of names, warn', () => {
    const { settings, warnings } = readGeneralSettings({ agentImage: 42, testCommand: ['npm', 'test'], allowedTools: ['Read', 3, ''] });
    assert.equal(settings.image, DEFAULT_SETTINGS.image);
    assert.equal(settings.testCommand, '');
    assert.deepEqual(settings.allowedTools, ['Read']);
    assert.deepEqual(warnings, [
      'borg.agentImage is 42; it must be text. Using the default, borg-agent-demo:latest.',
      'borg.testCommand is ["npm","test"]; it must be text. Using the default (empty).',
      'borg.allowedTools has entries that are not tool names ([3,""]); they are ignored.',
    ]);
    assert.match(readGeneralSettings({ allowedTools: 'Read' }).warnings[0], /^borg\.allowedTools is "Read"; it must be a list/);
  });

  it('a hostile value stays inside the warning as JSON (quotes and newlines escaped)', () => {
    const { warnings } = readGeneralSettings({ onShutdown: 'stop"\n[Open](command:evil)' });
    assert.equal(warnings.length, 1);
    assert.ok(!warnings[0].includes('\n'), 'one line');
    assert.ok(warnings[0].includes(String.raw`"stop\"\n[Open](command:evil)"`));
  });
});

describe('notificationText', () => {
  // VS Code's notifications render [label](command:…) as a link that runs the command (notifications.ts MARKDOWN_LINK_REGEX).
  const link = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^)\s]+)/i;

  it('a hostile value from a workspace settings file cannot become a link in the notification', () => {
    const { warnings } = readGeneralSettings({ onShutdown: '[Fix it](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22rm%22%7D)' });
    assert.match(warnings[0], link, 'the raw warning quotes the value');
    const shown = notificationText(warnings[0]);
    assert.doesNotMatch(shown, link);
    assert.ok(shown.startsWith('borg.onShutdown is "[Fix it] (command:'));
  });

  it('a long warning is cut; an ordinary one is unchanged', () => {
    assert.equal(notificationText(`borg.model is ${'x'.repeat(1000)}`).length, MAX_WARNING_LENGTH);
    const plain = 'borg.maxAttempts is 2.5; it must be a whole number from 1 to 50. Using the default, 5.';
    assert.equal(notificationText(plain), plain);
  });
});

describe('settingOfWarning', () => {
  it('names the setting a warning is about, cut to borg.<name>', () => {
    assert.equal(settingOfWarning('borg.maxAttempts is 2.5; it must be …'), 'borg.maxAttempts');
    assert.equal(settingOfWarning('borg.personaTools.worker must be a list of tool names; …'), 'borg.personaTools');
    assert.equal(settingOfWarning('borg.agents.groupBy is "phase"; …'), 'borg.agents.groupBy');
    assert.equal(settingOfWarning('Something else'), undefined);
  });
});

type Property = {
  type?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  enum?: string[];
  enumDescriptions?: string[];
  markdownDescription?: string;
  description?: string;
  order?: number;
};
type Category = { id: string; title: string; order: number; properties: Record<string, Property> };

describe("package.json's configuration", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { contributes: { configuration: Category[] } };
  const categories = pkg.contributes.configuration;
  const properties = Object.assign({}, ...categories.map((c) => c.properties)) as Record<string, Property>;

  it('is in categories, each with a title and an order, in the order Agents, Tasks, Docker, Security, Model, Budget', () => {
    assert.ok(Array.isArray(categories));
    assert.deepEqual(
      [...categories].sort((a, b) => a.order - b.order).map((c) => c.title),
      ['Agents', 'Tasks', 'Docker', 'Security', 'Model', 'Budget'],
    );
    for (const c of categories) assert.match(c.id, /^borg\.[a-z]+$/);
  });

  it('every setting has a Markdown description that states its default, an order within its category, and descriptions for enum values', () => {
    for (const c of categories) {
      const orders = Object.values(c.properties).map((p) => p.order);
      assert.deepEqual(
        [...orders].sort((a, b) => (a ?? 0) - (b ?? 0)),
        orders.map((_, i) => i + 1),
        `orders in ${c.title}`,
      );
      for (const [name, p] of Object.entries(c.properties)) {
        assert.ok(p.markdownDescription && !p.description, `${name}: markdownDescription only`);
        assert.match(p.markdownDescription ?? '', /[Dd]efault/, `${name} states its default`);
        if (p.enum) assert.equal(p.enumDescriptions?.length, p.enum.length, `${name}: one enumDescription per value`);
      }
    }
  });

  it("the rules' ranges and values are the manifest's (minimum, maximum, enum, default)", () => {
    const defaults: Record<string, unknown> = {
      'borg.maxParallelAgents': DEFAULT_SETTINGS.maxParallelAgents,
      'borg.agentTimeoutSeconds': DEFAULT_SETTINGS.agentTimeoutSeconds,
      'borg.stopGraceSeconds': DEFAULT_SETTINGS.stopGraceSeconds,
      'borg.testTimeoutSeconds': DEFAULT_TASK_SETTINGS.testTimeoutSeconds,
      'borg.maxAttempts': DEFAULT_TASK_SETTINGS.maxAttempts,
    };
    const rules: SettingRule[] = [...Object.values(GENERAL_RULES), ...Object.values(HARDENING_RULES), TEST_NETWORK_RULE, WORKTREES_RULE, ...Object.values(COST_RULES)];
    for (const rule of rules) {
      const p = properties[rule.setting];
      assert.ok(p, `${rule.setting} is in package.json`);
      if (rule.kind === 'number') {
        assert.equal(p.minimum, rule.min, `${rule.setting} minimum`);
        assert.equal(p.maximum, rule.max, `${rule.setting} maximum`);
        assert.equal(p.type, rule.integer ? 'integer' : 'number', `${rule.setting} type`);
      } else {
        assert.deepEqual(p.enum, [...rule.values], `${rule.setting} enum`);
      }
      if (rule.setting in defaults) assert.equal(p.default, defaults[rule.setting], `${rule.setting} default`);
    }
    assert.equal((properties['borg.containerPrefix'] as { maxLength?: number }).maxLength, MAX_PREFIX_LENGTH);
  });
});
