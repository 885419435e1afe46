// Where the viewer's main thread goes, for the busy-room benchmark when BENCH_PROFILE names a directory.
//
// Two recordings of the same stretch, because each answers what the other cannot:
// - a Chromium trace (the DevTools timeline categories): the main thread's time by kind of work, as self
//   time (an event's duration minus the events nested in it), so script, style, layout, paint and garbage
//   collection add up to the thread's busy time without counting anything twice;
// - a V8 sampling profile: which functions the script time is spent in (WASM functions keep their Rust
//   names when the bundle has its name section: build with `wasm-opt -g`, see BENCHMARKS.md).
// Both files are written to the directory too, to open in DevTools. Profiling slows the page: its figures
// are for finding where time goes, never for comparing builds (the plain runs are for that).
import * as fs from "node:fs";
import * as path from "node:path";
import type { Browser, CDPSession, Page } from "@playwright/test";

// BENCH_PROFILE_INVALIDATIONS=1 also records which nodes invalidated style, layout and paint (costly).
const CATEGORIES = [
  "devtools.timeline",
  "disabled-by-default-devtools.timeline",
  "v8",
  "blink.user_timing",
  ...(process.env.BENCH_PROFILE_INVALIDATIONS === "1" ? ["disabled-by-default-devtools.timeline.invalidationTracking"] : []),
];

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: { name?: string };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

// The sampling profile's own cost lands on the main thread (as task time outside any event), so it can be
// left out (BENCH_PROFILE_JS=0) when the trace's split of the thread's time is what is wanted.
const sampling = process.env.BENCH_PROFILE_JS !== "0";

export async function startProfile(browser: Browser, page: Page, cdp: CDPSession): Promise<void> {
  if (sampling) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
    await cdp.send("Profiler.start");
  }
  await browser.startTracing(page, { categories: CATEGORIES });
}

/** Stops both recordings, writes them and a summary to `dir`, and returns the summary. */
export async function stopProfile(browser: Browser, cdp: CDPSession, dir: string, tag: string): Promise<object> {
  const trace = JSON.parse((await browser.stopTracing()).toString()) as { traceEvents: TraceEvent[] };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${tag}.trace.json`), JSON.stringify(trace));
  let byFunction = {};
  if (sampling) {
    const { profile } = (await cdp.send("Profiler.stop")) as unknown as { profile: CpuProfile };
    fs.writeFileSync(path.join(dir, `${tag}.cpuprofile`), JSON.stringify(profile));
    byFunction = functions(profile);
  }
  const summary = { byKind: selfTimes(trace.traceEvents), byFunction };
  fs.writeFileSync(path.join(dir, `${tag}.summary.json`), JSON.stringify(summary, null, 2));
  return summary;
}

/** Self time (ms) per event name on the page's main thread, largest first. */
function selfTimes(events: TraceEvent[]): Record<string, number> {
  const main = events.find((e) => e.name === "thread_name" && e.args?.name === "CrRendererMain" && hasWork(events, e));
  if (!main) return {};
  const spans = events
    .filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === "X" && e.dur !== undefined)
    .sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
  const self = new Map<string, number>();
  const open: { end: number; event: TraceEvent }[] = [];
  for (const e of spans) {
    while (open.length && open[open.length - 1].end <= e.ts) open.pop();
    const parent = open[open.length - 1];
    if (parent) self.set(parent.event.name, (self.get(parent.event.name) ?? 0) - (e.dur ?? 0));
    self.set(e.name, (self.get(e.name) ?? 0) + (e.dur ?? 0));
    open.push({ end: e.ts + (e.dur ?? 0), event: e });
  }
  return Object.fromEntries([...self].map(([k, v]) => [k, v / 1000] as const).filter(([, v]) => v > 1).sort((a, b) => b[1] - a[1]));
}

/** Chromium names several renderer threads CrRendererMain (one per process): the page's has the work. */
function hasWork(events: TraceEvent[], thread: TraceEvent): boolean {
  return events.some((e) => e.pid === thread.pid && e.tid === thread.tid && e.name === "FunctionCall");
}

/** Self time (ms) per function in the sampling profile, the 40 largest. */
function functions(profile: CpuProfile): Record<string, number> {
  const names = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName || `(${n.callFrame.url || "anonymous"})`]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const name = names.get(id) ?? "?";
    self.set(name, (self.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return Object.fromEntries([...self].map(([k, v]) => [k, v / 1000] as const).sort((a, b) => b[1] - a[1]).slice(0, 40));
}
