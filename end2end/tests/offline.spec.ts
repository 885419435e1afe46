// Losing the network with a message pending: it is delivered once when the network is back, and what the
// other person said meanwhile appears without a gap.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, createRoom, expectLive, gotoHydrated, joinRoom, messageItems, person, say, shownSeqs, unique } from "./helpers";

test("a message written offline is delivered once after reconnecting, with no gap", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const room = unique("Tunnel ");
  await createRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await say(ben.page, "before the tunnel");
  await expect(messageItems(ana.page).filter({ hasText: "before the tunnel" })).toHaveCount(1);

  await ana.context.setOffline(true);
  await expect(ana.page.getByRole("status")).toHaveText("reconnecting…");
  await say(ana.page, "written in the tunnel");
  const pending = messageItems(ana.page).filter({ hasText: "written in the tunnel" });
  await expect(pending).toContainText("pending");
  await ana.page.screenshot({ path: path.join(SCREENS, "room-offline.png"), fullPage: true });

  await say(ben.page, "meanwhile one");
  await say(ben.page, "meanwhile two");
  await expect(messageItems(ben.page).filter({ hasText: "meanwhile two" })).not.toContainText("pending");

  await ana.context.setOffline(false);
  await expectLive(ana.page);
  for (const page of [ana.page, ben.page]) {
    for (const text of ["before the tunnel", "meanwhile one", "meanwhile two", "written in the tunnel"]) {
      await expect(messageItems(page).filter({ hasText: text })).toHaveCount(1);
    }
    await expect(messageItems(page)).toHaveCount(4);
    await expect(page.getByText("pending")).toHaveCount(0);
    // Seq 1 is Ben's join: the timeline counts it, the list shows only messages.
    expect(await shownSeqs(page)).toEqual([2, 3, 4, 5]);
  }

  await ana.context.close();
  await ben.context.close();
});

test("a draft and a message written while the server is unreachable survive reloads, and the message is delivered once", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const room = unique("Drafts ");
  const roomId = await createRoom(ana.page, room);
  await joinRoom(ben.page, room);

  // From now on Ana's tab cannot reach the server's socket (its pages still load): a socket
  // opens but nothing answers, so the client gives up on it at its pong deadline and retries.
  // Later the retries reach the server again, through this route.
  let reachable = false;
  await ana.page.routeWebSocket(/\/ws$/, (ws) => {
    if (reachable) {
      ws.connectToServer();
    }
  });
  await gotoHydrated(ana.page, `/rooms/${roomId}`);
  await expect(ana.page.getByRole("status")).not.toHaveText("connected");
  await say(ana.page, "typed while unreachable");
  const unsent = messageItems(ana.page).filter({ hasText: "typed while unreachable" });
  await expect(unsent).toContainText("pending");
  const composer = ana.page.getByRole("textbox", { name: "Message" });
  await composer.fill("half a thought");

  // A reload (as good as a closed tab): the message is still waiting, the draft still there.
  await gotoHydrated(ana.page, `/rooms/${roomId}`);
  await expect(unsent).toContainText("pending");
  await expect(composer).toHaveValue("half a thought");
  await ana.page.screenshot({ path: path.join(SCREENS, "room-unsent-after-reload.png"), fullPage: true });

  reachable = true;
  // The next retry: after the pong deadline (10 s) and a backoff of at most 10 s.
  await expect(ana.page.getByRole("status")).toHaveText("connected", { timeout: 45_000 });
  await expect(ana.page.getByText("pending")).toHaveCount(0);
  for (const page of [ana.page, ben.page]) {
    await expect(messageItems(page).filter({ hasText: "typed while unreachable" })).toHaveCount(1);
  }
  // Once more after a reload: stored once, nothing waiting, the draft still kept.
  await gotoHydrated(ana.page, `/rooms/${roomId}`);
  await expectLive(ana.page);
  await expect(messageItems(ana.page).filter({ hasText: "typed while unreachable" })).toHaveCount(1);
  await expect(ana.page.getByText("pending")).toHaveCount(0);
  await expect(composer).toHaveValue("half a thought");
  await gotoHydrated(ben.page, `/rooms/${roomId}`);
  await expect(messageItems(ben.page).filter({ hasText: "typed while unreachable" })).toHaveCount(1);

  // Signing out takes what the browser kept of Ana's with the session.
  const kept = () => ana.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("minitalk.draft.")));
  expect(await kept()).toHaveLength(1);
  await ana.page.getByRole("button", { name: "Sign out", exact: true }).click();
  await expect(ana.page).toHaveURL(/\/login$/);
  expect(await kept()).toHaveLength(0);

  await ana.context.close();
  await ben.context.close();
});
