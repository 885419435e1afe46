// Busy-room benchmark: one viewer page sits at the bottom of a room while a sender posts at a fixed rate;
// we measure the viewer's main-thread work per message received and its DOM size at the end.
//
// Main-thread time is the renderer's own account, CDP `Performance.getMetrics` `TaskDuration` (every task
// on the main thread: script, style, layout, paint) and `ScriptDuration` (script only), as deltas over the
// whole run divided by the messages received. DOM size is the elements in the document at the end, and
// CDP's `Nodes` (every live node, detached ones too) after a forced garbage collection.
//
// Responsiveness: every long task (a main-thread task over 50 ms, the browser's own `longtask` entries) the
// viewer had while the messages came, counted with the longest; and the JS heap before and after (after a
// forced garbage collection), which must not grow with the messages.
//
// The sender is a WebSocket opened inside a second signed-in browser context parked on a JSON page (so it
// renders nothing): it paces `send` frames with timers and waits for every ack. The results are printed as
// one JSON line per case, tagged `BENCH`. BENCH_RATES (default "100,300"), BENCH_MESSAGES (default 6000)
// and BENCH_RUNS (default 3) choose the cases. BENCH_PROFILE=DIR also records where the viewer's main thread
// went (see profile.ts); those runs are slowed by the recording, so compare builds without it.
import { expect, test, type CDPSession, type Page } from "@playwright/test";
import { createRoom, joinRoom, person, unique } from "../tests/helpers";
import { startProfile, stopProfile } from "./profile";

const rates = (process.env.BENCH_RATES ?? "100,300").split(",").map(Number);
const messages = Number(process.env.BENCH_MESSAGES ?? 6000);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const profileDir = process.env.BENCH_PROFILE;

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return Object.fromEntries(metrics.map((m: { name: string; value: number }) => [m.name, m.value]));
}

/** Sends `count` messages at `rate` per second from inside `page`; resolves when every one is acked. */
async function send(page: Page, roomId: number, count: number, rate: number, tag: string): Promise<number> {
  return page.evaluate(
    async ({ roomId, count, rate, tag }) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      let acked = 0;
      const done = new Promise<void>((resolve, reject) => {
        ws.onmessage = (event) => {
          const frame = JSON.parse(event.data);
          if (frame.type === "ack" && ++acked === count) resolve();
          if (frame.type === "error") reject(new Error(`send failed: ${event.data}`));
        };
      });
      const start = performance.now();
      for (let i = 1; i <= count; i++) {
        const wait = start + (i * 1000) / rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        ws.send(JSON.stringify({ type: "send", room_id: roomId, client_id: `${tag}-${i}`, content: `${tag} message ${i}` }));
      }
      const sentIn = performance.now() - start;
      await done;
      ws.close();
      return sentIn;
    },
    { roomId, count, rate, tag },
  );
}

for (const rate of rates) {
  for (let run = 1; run <= runs; run++) {
    test(`busy room: ${messages} messages at ${rate}/s, run ${run}`, async ({ browser }) => {
      const viewer = await person(browser, "view");
      const sender = await person(browser, "send");
      const room = unique("Busy ");
      const roomId = await createRoom(viewer.page, room);
      await joinRoom(sender.page, room);
      await sender.page.goto("/api/stats");

      const cdp = await viewer.context.newCDPSession(viewer.page);
      await cdp.send("Performance.enable", { timeDomain: "threadTicks" });
      await cdp.send("HeapProfiler.collectGarbage");
      const heapBefore = (await metrics(cdp)).JSHeapUsedSize;
      await viewer.page.evaluate(() => {
        const long: number[] = [];
        (window as unknown as { longTasks: number[] }).longTasks = long;
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) long.push(entry.duration);
        }).observe({ type: "longtask" });
      });
      if (profileDir) await startProfile(browser, viewer.page, cdp);
      const before = await metrics(cdp);
      const tag = unique("b");
      const sentInMs = await send(sender.page, roomId, messages, rate, tag);
      // The newest message shows once the viewer has taken in all of them.
      await expect(viewer.page.locator(".msg-text").filter({ hasText: `${tag} message ${messages}` }).last()).toBeAttached({
        timeout: 300_000,
      });
      const after = await metrics(cdp);
      if (profileDir) {
        const summary = await stopProfile(browser, cdp, profileDir, `${rate}-${run}`);
        console.log(`PROFILE ${JSON.stringify(summary)}`);
      }
      await cdp.send("HeapProfiler.collectGarbage");
      const gc = await metrics(cdp);
      const elements = await viewer.page.evaluate(() => document.getElementsByTagName("*").length);
      const longTasks = await viewer.page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks);
      const shown = await viewer.page.locator("li.msg").count();
      const perMessage = (key: string) => ((after[key] - before[key]) * 1000) / messages;
      const result = {
        rate,
        run,
        messages,
        sentInS: sentInMs / 1000,
        taskMsPerMessage: perMessage("TaskDuration"),
        scriptMsPerMessage: perMessage("ScriptDuration"),
        layoutMsPerMessage: perMessage("LayoutDuration") + perMessage("RecalcStyleDuration"),
        mainThreadShare: (after.TaskDuration - before.TaskDuration) / (sentInMs / 1000),
        elements,
        nodesAfterGc: gc.Nodes,
        shownMessages: shown,
        heapMiB: gc.JSHeapUsedSize / 2 ** 20,
        heapBeforeMiB: heapBefore / 2 ** 20,
        longTasks: longTasks.length,
        longestTaskMs: Math.max(0, ...longTasks),
      };
      console.log(`BENCH ${JSON.stringify(result)}`);
      await viewer.context.close();
      await sender.context.close();
    });
  }
}
