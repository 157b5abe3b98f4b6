import * as fs from 'node:fs';
import * as path from 'node:path';

/** Values a prompt template can use as `{{name}}`. */
export interface PromptValues {
  taskId: number;
  title: string;
  description: string;
  workdir: string;
  /** spec.md from the task's branch, or a placeholder. */
  spec: string;
  /** The previous attempt's failure, introduced as such, or empty. */
  lastError: string;
}

/**
 * The persona prompts: `<persona>.md` (the prompt) and `<persona>.system.md` (the system prompt),
 * read from the repository's `.borg/prompts/` when present, else from the built-in folder
 * (`media/prompts/`). `{{name}}` placeholders are replaced by plain text substitution: task text
 * is never evaluated.
 */
export class Prompts {
  /** @param builtinDir folder of the built-in prompt files. */
  constructor(private readonly builtinDir: string) {}

  /** The prompt and system prompt for `persona` working on a task in `repo`. */
  render(persona: string, repo: string, values: PromptValues): { prompt: string; systemPrompt: string } {
    return {
      prompt: fill(this.read(persona, repo, `${persona}.md`), values),
      systemPrompt: fill(this.read(persona, repo, `${persona}.system.md`), values).trim(),
    };
  }

  private read(persona: string, repo: string, file: string): string {
    for (const dir of [path.join(repo, '.borg', 'prompts'), this.builtinDir]) {
      try {
        return fs.readFileSync(path.join(dir, file), 'utf8');
      } catch {
        // next place
      }
    }
    return file.endsWith('.system.md') ? '' : `You are the ${persona} for task {{taskId}}: {{title}}\n\n{{description}}\n`;
  }
}

function fill(template: string, values: PromptValues): string {
  return template.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => (key in values ? String(values[key as keyof PromptValues]) : whole));
}
