import { LABEL_LIMITS, LABEL_PHASE, LABEL_TASK, networkOf } from '../core/labels';
import * as vscode from 'vscode';
import type { Agent } from '../core/agent';
import { MeteredUsage, usageLong, usageShort } from '../core/costText';
import type { ContainerInfo } from '../core/engine';
import { hostLoad, hostText, HostWord } from '../core/hostCounts';
import type { QueuedLaunch } from '../core/pipeline';
import { elapsedWords } from '../core/relativeTime';
import { isOomKilled, isStopped, verbsFor } from '../core/verbs';
import { GroupNode, taskPhaseOf, timeOf } from './agentTree';

/** What the tree shows for one container: the single table from state to icon, words and menu key. */
export interface AgentLook {
  icon: vscode.ThemeIcon;
  /** Short state words for the description, e.g. "exited 3", "OOM-killed". */
  words: string;
  /**
   * `contextValue`: `borg.agent;` then every verb that fits, each followed by `;` (from
   * core/verbs.ts `verbsFor`, e.g. `borg.agent;hardline;remove;logs;`). The item menus in
   * package.json match one verb each with `viewItem =~ /;hardline;/`.
   */
  contextValue: string;
}

const green = new vscode.ThemeColor('testing.iconPassed');
const red = new vscode.ThemeColor('testing.iconFailed');
const yellow = new vscode.ThemeColor('testing.iconQueued');
const neutral = new vscode.ThemeColor('icon.foreground');

/** `borg.agent;` and the verbs that fit `c`, each followed by `;`. */
export function agentContextValue(c: ContainerInfo): string {
  return `borg.agent;${verbsFor(c)
    .map((v) => `${v};`)
    .join('')}`;
}

/**
 * Maps a container's state to its look. OOM-killed (Docker's `OOMKilled`, any exit code: a child
 * killed while the main process exited 0 counts too, see core/verbs.ts) shows the flame. A run
 * Borg stopped (`endedBy`, from Borg's own records) reads "stopped" with a neutral icon and a
 * watchdog stop "timed out": neither is a crash of the agent's making, though a timeout keeps
 * Hardline (verbs.ts).
 */
export function lookOf(c: ContainerInfo): AgentLook {
  const contextValue = agentContextValue(c);
  const look = (icon: vscode.ThemeIcon, words: string): AgentLook => ({ icon, words, contextValue });
  switch (c.status) {
    case 'running':
      return look(new vscode.ThemeIcon('vm-running', green), 'running');
    case 'paused':
      return look(new vscode.ThemeIcon('debug-pause', yellow), 'paused');
    case 'restarting':
      return look(new vscode.ThemeIcon('sync~spin'), 'restarting');
    case 'removing':
      return look(new vscode.ThemeIcon('trash'), 'removing');
    case 'created':
      return look(new vscode.ThemeIcon('circle-large-outline'), 'created');
    case 'dead':
      return look(new vscode.ThemeIcon('circle-slash', red), 'dead');
    case 'exited':
      if (isOomKilled(c)) return look(new vscode.ThemeIcon('flame', red), 'OOM-killed');
      if (isStopped(c)) return look(new vscode.ThemeIcon('debug-stop', neutral), 'stopped'); // the codicon alone renders red
      if (c.endedBy === 'timed-out') return look(new vscode.ThemeIcon('watch', red), 'timed out');
      if (c.exitCode === 0) return look(new vscode.ThemeIcon('pass', green), 'exited 0');
      return look(new vscode.ThemeIcon('error', red), `exited ${c.exitCode ?? '?'}`);
    default:
      return look(new vscode.ThemeIcon('question'), String(c.status)); // a state Docker may add later
  }
}

/** How a row names where it runs (agentTree.ts decides). */
export interface AgentWhere {
  /** `Host` (a Docker host of `borg.docker.hosts`) or `Node` (a Swarm node); default `Host`. */
  word?: HostWord;
  /** The tree spans several hosts: the description names the host too. */
  inDescription?: boolean;
}

/** What the model gateway knows of one agent's current run, for its row. */
export interface AgentMeter {
  /** The run's metered totals (tokens; USD), when it reaches the model through the gateway. */
  usage?: MeteredUsage & { requests: number };
  /** The gateway's upstream label (`replay of demo.jsonl`) when the model is a recording, not a model. */
  replayOf?: string;
}

/**
 * A tree item for one labelled container; `agent` adds the live last output line, `meter` the
 * run's metered cost and tokens (`running · up 2 min · #12 impl · $0.0312 · 12.3k tok · …`) once
 * it made a model request through the gateway. `where` names its host or node
 * ({@link ContainerInfo.host}): always in the tooltip (`Host: a`), in the description too
 * (`… · a`, before the live last line, which is the part a narrow sidebar cuts) when the tree
 * spans several hosts; then its id is `host:<host>/<name>` too (a name may be on two hosts).
 */
export function agentItem(c: ContainerInfo, agent: Agent | undefined, meter: AgentMeter = {}, now = Date.now(), where: AgentWhere = {}): vscode.TreeItem {
  const look = lookOf(c);
  const item = new vscode.TreeItem(c.name, vscode.TreeItemCollapsibleState.None);
  // Names are unique per daemon, not across hosts (hostsEngine.ts): across hosts the id carries the host (names have no colon).
  item.id = where.inDescription && c.host ? `host:${encodeURIComponent(c.host)}/${c.name}` : c.name;
  item.iconPath = look.icon;
  item.contextValue = look.contextValue;
  const since = timeOf(c, agent, now);
  const last = c.status === 'running' && agent?.lastLine ? ` · ${agent.lastLine}` : '';
  const used = meter.usage && meter.usage.requests > 0 ? meter.usage : undefined;
  const cost = used ? ` · ${usageShort(used)}` : '';
  const served = taskPhaseOf(c.labels[LABEL_TASK], c.labels[LABEL_PHASE]);
  // State first: a narrow sidebar cuts the end. The persona is in the name (<prefix>-<persona>-<n>) and the tooltip.
  const host = c.host ? hostText(c.host) : '';
  const at = where.inDescription && host ? ` · ${host}` : '';
  item.description = `${look.words} · ${since}${served ? ` · ${served}` : ''}${cost}${at}${last}`;
  const tip = new vscode.MarkdownString(undefined, true);
  tip.appendMarkdown(`$(${look.icon.id.replace('~spin', '')}) **${c.name}** — ${look.words}\n\n`);
  if (isStopped(c)) tip.appendMarkdown('Stopped by Borg (Stop Agent or Stop All), not a crash: Reclaim runs a fresh agent under this name.\n\n');
  else if (c.endedBy === 'timed-out') tip.appendMarkdown("Stopped by Borg's watchdog (borg.agentTimeoutSeconds): Hardline restarts it.\n\n");
  tip.appendMarkdown(`Persona: \`${c.persona ?? '?'}\`  \nImage: \`${c.image}\`  \nId: \`${c.id.slice(0, 12)}\``);
  if (host) tip.appendMarkdown(`  \n${where.word ?? 'Host'}: ${escapeMd(host)}`);
  const task = c.labels[LABEL_TASK];
  if (task) tip.appendMarkdown(`  \nTask: #${escapeMd(task)} · ${escapeMd(c.labels[LABEL_PHASE] ?? '?')}`);
  const limits = c.labels[LABEL_LIMITS];
  tip.appendMarkdown(`  \nLimits: ${limits ? escapeMd(limits) : 'none recorded (created before Borg confined its containers)'}`);
  tip.appendMarkdown(`  \n${networkLine(networkOf(c.labels))}`);
  if (meter.replayOf) tip.appendMarkdown(`  \nModel: ${escapeMd(meter.replayOf)} (not a model)`);
  if (used) tip.appendMarkdown(`  \nModel use: ${escapeMd(`${used.requests} request${used.requests === 1 ? '' : 's'} · ${usageLong(used)}`)}`);
  if (agent?.lastLine) tip.appendMarkdown(`  \nLast output: ${escapeMd(agent.lastLine)}`);
  item.tooltip = tip;
  return item;
}

/**
 * The tooltip's network line, from the container's `borg.limits` / `borg.gateway` labels
 * (hardening.ts: `gateway` = no network but the gateway's socket; `bridge` = Docker's default
 * network; `none` = nothing).
 */
export function networkLine(network: string | undefined): string {
  switch (network) {
    case 'gateway':
      return "Network: gateway (no network; the model only through Borg's gateway)";
    case 'none':
      return 'Network: none (no network, no model)';
    case 'bridge':
      return '$(warning) network bridge: this agent can reach anything the host can';
    case undefined:
      return 'Network: not recorded (created before Borg recorded it)';
    default:
      return `$(warning) network ${escapeMd(network)}: not one of Borg's modes (gateway, bridge, none)`;
  }
}

/**
 * A tree item for a launch waiting for a slot: "waiting for a slot (2 ahead)". A loose launch
 * offers Cancel (`borg.queued;cancel;`); a task's launch is cancelled with its task (Tasks view),
 * since the scheduler would queue an interrupted phase again.
 */
export function queuedItem(q: QueuedLaunch, ahead: number, now = Date.now()): vscode.TreeItem {
  const item = new vscode.TreeItem(`${q.persona} (queued)`, vscode.TreeItemCollapsibleState.None);
  item.id = `queued:${q.id}`;
  item.iconPath = new vscode.ThemeIcon('watch', yellow);
  item.contextValue = q.task ? 'borg.queued;' : 'borg.queued;cancel;';
  const served = taskPhaseOf(q.task, q.phase);
  item.description = `${served ? `${served} · ` : ''}waiting for a slot (${ahead === 0 ? 'next' : `${ahead} ahead`}) · ${elapsedWords(now - q.queuedAt)}`;
  item.tooltip = q.task
    ? `All agent slots are busy (borg.maxParallelAgents). This phase of task #${q.task} starts when one frees up; cancel the task in the Tasks view to drop it.`
    : 'All agent slots are busy (borg.maxParallelAgents). This launch starts when one frees up, or Cancel Launch drops it.';
  return item;
}

/**
 * A tree item for a group: its label, how many agents it holds and how many run. A host's group
 * (`g.host`) reads `2/4 agents` (running / its slots) when the engine knows its slots, and
 * `down — <error>` with a warning icon when the engine says it is down; its tooltip has its
 * address. A group with no rows (a host with no agents) has nothing to expand.
 */
export function groupItem(g: GroupNode, rows: readonly ContainerInfo[], waiting: number): vscode.TreeItem {
  if (g.host) return hostGroupItem(g, rows);
  const item = new vscode.TreeItem(g.label, vscode.TreeItemCollapsibleState.Expanded);
  item.id = g.id;
  item.iconPath = new vscode.ThemeIcon(g.icon, neutral); // debug-stop alone renders red
  item.contextValue = 'borg.agentGroup';
  const running = rows.filter((c) => c.status === 'running').length;
  const parts = rows.length || !waiting ? [`${rows.length} agent${rows.length === 1 ? '' : 's'}`] : [];
  if (running && running !== rows.length) parts.push(`${running} running`);
  if (waiting) parts.push(`${waiting} waiting`);
  item.description = parts.join(' · ');
  return item;
}

function hostGroupItem(g: GroupNode, rows: readonly ContainerInfo[]): vscode.TreeItem {
  const { word, count } = g.host!;
  const name = hostText(count.name);
  const item = new vscode.TreeItem(name, g.children.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
  // An empty host group has an id of its own: VS Code keeps an item's collapse state by id, and a
  // row first shown with nothing to expand would otherwise come back collapsed once agents run there.
  item.id = g.children.length ? g.id : `${g.id}#empty`;
  item.contextValue = 'borg.agentGroup;host;';
  const state = count.state;
  const down = state !== undefined && !state.up;
  item.iconPath = down ? new vscode.ThemeIcon('warning', yellow) : new vscode.ThemeIcon(g.icon, neutral);
  const running = rows.filter((c) => c.status === 'running').length;
  const others = rows.length - running;
  if (down || state) item.description = `${hostLoad(count)}${down ? '' : ' agents'}`;
  else item.description = `${rows.length} agent${rows.length === 1 ? '' : 's'}${running && running !== rows.length ? ` · ${running} running` : ''}`;
  const tip = new vscode.MarkdownString(undefined, true);
  tip.appendMarkdown(`$(${down ? 'warning' : 'server'}) ${word} **${escapeMd(name)}**`);
  if (state) tip.appendMarkdown(` — ${escapeMd(hostText(state.address))}  \n${running} of ${state.slots} slot${state.slots === 1 ? '' : 's'} busy`);
  else tip.appendMarkdown(`  \n${running} running`);
  if (others) tip.appendMarkdown(` · ${others} not running`);
  if (down) tip.appendMarkdown(`  \nDown${state?.error ? `: ${escapeMd(hostText(state.error, 500))}` : ''}. Borg places no agent here until a call reaches it again; the rows shown are as last seen.`);
  item.tooltip = tip;
  return item;
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>$]/g, '\\$&'); // `$` too: the tooltip renders $(icon) syntax
}
