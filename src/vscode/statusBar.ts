import * as vscode from 'vscode';
import { formatUsdCents } from '../core/costText';
import { Disposable } from '../core/disposable';
import type { Gateway } from '../core/gateway/gateway';
import { startOfLocalDay } from '../core/gateway/ledger';
import type { Pipeline } from '../core/pipeline';
import type { Scheduler } from '../core/scheduler';
import { hostCounts, HostCount, hostWordOf } from '../core/hostCounts';
import { hostLines, hostsDown, statusAccessibleLabel, StatusFacts } from '../core/statusWords';
import { onDidChangeConfig } from './config';
import { Debouncer } from './debouncer';

/** What the status bar reads of the model gateway (gateway/gateway.ts). */
export type StatusMeter = Pick<Gateway, 'onDidMeter' | 'spentToday' | 'replay' | 'upstreamLabel'>;

/** How often (ms) at most the day's spend is re-read while agents stream. */
const SPEND_REFRESH_MS = 500;

/**
 * The status bar item: `$(server-process) n/4 agents · m queued`, where m counts launches
 * waiting for a slot and tasks waiting for their next phase, `· paused` after Stop All until
 * Resume Tasks, then the model gateway's `· $0.42 today` (USD since local midnight; hidden
 * while nothing was metered today) and `· replay` when the model is a recording. A click focuses
 * the Agents view. With several Docker hosts (`borg.docker.hosts`) or Swarm nodes, `4` is the
 * hosts' slots together, `· 1 host down` follows when the engine says one is down, and the
 * tooltip and accessible label list each host (`a: 2/4`, core/statusWords.ts).
 */
export class StatusBar extends Disposable {
  readonly item: vscode.StatusBarItem;
  /** Tasks waiting to run, re-counted when a task changes (not on every Pipeline change). */
  private queuedTasks = 0;
  /**
   * Today's spend (USD), re-read on metering (throttled), {@link refresh} and a new day — never per
   * Pipeline change; `metered`: the gateway answered a request today (a refusal costs nothing).
   */
  private spend = { day: 0, usd: 0, metered: false };
  /** The local day (its midnight, ms) of the last metered request this window saw. */
  private meteredOn = 0;
  /** The upstream, re-read on settings changes and {@link refresh}. */
  private model = { replay: false, label: '' };

  /**
   * @param dayCapUsd `borg.maxCostUsdPerDay` now (USD; 0 = no cap), for the tooltip.
   */
  constructor(
    private readonly pipeline: Pipeline,
    private readonly scheduler?: Scheduler,
    private readonly gateway?: StatusMeter,
    private readonly dayCapUsd: () => number = () => 0,
  ) {
    super();
    this.item = this.register(vscode.window.createStatusBarItem('borg.status', vscode.StatusBarAlignment.Left, 50));
    this.item.name = 'Borg Pipeline';
    this.item.command = 'borg.agents.focus';
    this.register(pipeline.onDidChange(() => this.update()));
    if (scheduler) {
      this.queuedTasks = scheduler.queuedCount;
      this.register(
        scheduler.onDidChange(() => {
          this.queuedTasks = scheduler.queuedCount;
          this.update();
        }),
      );
    }
    if (gateway) {
      const reread = this.register(new Debouncer(SPEND_REFRESH_MS, () => this.refresh()));
      this.register(
        gateway.onDidMeter(() => {
          this.meteredOn = startOfLocalDay(Date.now());
          reread.trigger();
        }),
      );
      this.register(onDidChangeConfig(() => this.refresh()));
    }
    this.refresh();
    this.item.show();
  }

  /** The text shown now (for tests). */
  get text(): string {
    return this.item.text;
  }

  /** Re-reads today's spend and the upstream from the gateway, then repaints. */
  refresh(): void {
    const g = this.gateway;
    if (g) {
      const day = startOfLocalDay(Date.now());
      const sameDay = this.spend.day === day;
      let usd = sameDay ? this.spend.usd : 0;
      try {
        usd = g.spentToday();
      } catch {
        // the store closed (shutdown): keep what is shown
      }
      this.spend = { day, usd, metered: usd > 0 || this.meteredOn === day };
      this.model = { replay: g.replay, label: g.upstreamLabel };
    }
    this.update();
  }

  private update(): void {
    this.paint();
    this.item.accessibilityInformation = { label: statusAccessibleLabel(this.facts()), role: 'button' };
  }

  /** What the item shows, for its accessible label (core/statusWords.ts). */
  private facts(): StatusFacts {
    const p = this.pipeline;
    const live = p.containers.filter((c) => c.status === 'running').length;
    return {
      running: Math.max(p.runningCount, live),
      max: this.totalSlots(),
      hosts: this.hosts(),
      hostWord: hostWordOf(p.engine.hosts),
      launchesQueued: p.queuedCount,
      tasksQueued: this.queuedTasks,
      paused: !!this.scheduler?.paused,
      spentTodayUsd: this.gateway && this.spend.metered ? this.spend.usd : undefined,
      replay: !!this.gateway && this.model.replay,
      readOnly: !!p.readOnlyReason,
      dockerUnreachable: !!p.dockerError,
    };
  }

  /** Where agents run, per host (none with one daemon). */
  private hosts(): HostCount[] {
    return hostCounts(this.pipeline.containers, this.pipeline.engine.hosts);
  }

  /** Agents allowed at once: the hosts' slots together when the engine lists its hosts, else `borg.maxParallelAgents`. */
  private totalSlots(): number {
    const hosts = this.pipeline.engine.hosts;
    return hosts && hosts.length ? hosts.reduce((n, h) => n + h.slots, 0) : this.pipeline.maxParallel;
  }

  private paint(): void {
    const p = this.pipeline;
    if (p.dockerError) {
      this.item.text = '$(server-process) Docker unreachable';
      this.item.tooltip = p.dockerError.message;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      return;
    }
    const waiting = p.queuedCount + this.queuedTasks;
    const queued = waiting > 0 ? ` · ${waiting} queued` : '';
    const paused = this.scheduler?.paused ? ' · paused' : '';
    if (p.readOnlyReason) {
      this.item.text = `$(lock) ${p.containers.filter((c) => c.status === 'running').length}/${this.totalSlots()} agents · read-only`;
      this.item.tooltip = `${p.readOnlyReason} Borg: Take Over asks that window to hand over.`;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      return;
    }
    if (this.gateway && this.spend.day !== startOfLocalDay(Date.now())) return this.refresh(); // past midnight: a new day's spend
    // Containers of this workspace started elsewhere (an earlier window, the CLI) count too.
    const live = p.containers.filter((c) => c.status === 'running').length;
    const spent = this.gateway && this.spend.metered ? ` · ${formatUsdCents(this.spend.usd)} today` : '';
    const replay = this.gateway && this.model.replay ? ' · replay' : '';
    const hosts = this.hosts();
    const lines = hostLines(hosts);
    const down = lines.length ? hostsDown(hosts) : 0;
    const hostsDownText = down ? ` · ${down} host${down === 1 ? '' : 's'} down` : '';
    this.item.text = `$(${paused ? 'debug-pause' : 'server-process'}) ${Math.max(p.runningCount, live)}/${this.totalSlots()} agents${queued}${paused}${hostsDownText}${spent}${replay}`;
    this.item.tooltip =
      `Borg Pipeline: agents running / allowed at once${waiting > 0 ? `; ${p.queuedCount} agent launch${p.queuedCount === 1 ? '' : 'es'} and ${this.queuedTasks} task${this.queuedTasks === 1 ? '' : 's'} waiting` : ''}.` +
      (paused ? ' Tasks are paused (Stop All): run Borg: Resume Tasks to go on.' : '') +
      this.modelTooltip() +
      ' Click to show the Agents view.' +
      (lines.length ? `\n\nPer ${hostWordOf(p.engine.hosts).toLowerCase()}:\n${lines.join('\n')}` : '');
    this.item.backgroundColor = paused ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  }

  /** ` Model spend today: $0.42 of $50.00 (borg.maxCostUsdPerDay). Model: https://api.anthropic.com.` */
  private modelTooltip(): string {
    if (!this.gateway) return '';
    const cap = this.dayCapUsd();
    const spend = `${formatUsdCents(this.spend.usd)} ${cap > 0 ? `of ${formatUsdCents(cap)} (borg.maxCostUsdPerDay)` : '(no daily cap: borg.maxCostUsdPerDay is 0)'}`;
    const model = this.model.replay ? `${this.model.label}, a recording, not a model (its costs are what the recorded session cost)` : this.model.label;
    return ` Model spend today: ${spend}. Model: ${model}.`;
  }
}
